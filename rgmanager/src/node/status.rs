//! What `clustat` shows, taken from the core's state.

use std::time::Instant;

use super::Node;
use crate::clustat;
use crate::membership::NodeId;
use crate::state::ServiceFlags;

impl Node {
    /// The status snapshot at `now` (clustat, and the admin socket's `status`).
    pub fn status(&self, now: Instant) -> clustat::Status {
        let in_view = |id: NodeId| self.view.as_ref().is_some_and(|v| v.contains(id));
        let coordinator = self.coordinator().filter(|_| self.quorum.is_quorate());
        let members = self
            .members_conf
            .iter()
            .map(|(id, name)| clustat::MemberStatus {
                name: name.clone(),
                nodeid: *id,
                online: in_view(*id),
                local: *id == self.local,
                estranged: false,
                // Membership runs inside rgmanager: a member is a running rgmanager.
                rgmanager: in_view(*id),
                rg_master: self.central_processing && coordinator == Some(*id),
                qdisk: false,
                coordinator: coordinator == Some(*id),
                wire: self
                    .membership
                    .member_speaks(*id)
                    .filter(|_| in_view(*id))
                    .map(|r| r.max),
            })
            .collect();
        let mut services: Vec<clustat::ServiceStatus> = self
            .coord
            .records()
            .into_iter()
            .map(|r| clustat::ServiceStatus {
                name: r.name,
                state: r.state,
                flags: ServiceFlags {
                    frozen: r.frozen,
                    partial: r.partial,
                },
                owner: r.owner.unwrap_or(0),
                last_owner: r.last_owner.unwrap_or(0),
                restarts: r.restarts.len() as u32,
                last_transition: r.last_transition as i64,
            })
            .collect();
        services.sort_by(|a, b| a.name.cmp(&b.name));
        clustat::Status {
            cluster_name: self.cluster_name.clone(),
            cluster_id: u32::from(self.cluster_id),
            generation: self.view.as_ref().map_or(0, |v| v.number),
            quorate: self.quorum.is_quorate(),
            members,
            services: Some(services),
            now: self.unix(now) as i64,
            wire: self.cluster_wire,
        }
    }
}
