//! `lvm`: HA LVM, rgmanager's `lvm.sh` with `lvm_by_vg.sh` and `lvm_by_lv.sh`: a volume group
//! (or one logical volume, with `lv_name`) activated on one node at a time, owned through an
//! LVM tag carrying the node's name.
//!
//! The safety rests on LVM's `activation/volume_list` holding `@<node name>` (and not the
//! volume group itself): LVM then activates only volumes tagged with this node's name, whatever
//! else (a boot script, an administrator's `vgchange -ay`) asks. As lvm.sh, the start refuses
//! to run without that setup.
//!
//! - start: the tags on the VG (the LV with `lv_name`) say who owns it. Ours, or none: claim
//!   it. Another node's: if that node is a cluster member, refuse ("owned by … a cluster
//!   member"); if it is not (it failed and was fenced), strip its tag and claim. When the
//!   membership is not known (no [`Members`] given: `rg_test`, or the daemon not asked),
//!   another node's tag is refused with the command that clears it, never guessed away.
//!   Claiming = every other tag removed, ours added, then `vgchange -ay VG` (`lvchange -ay
//!   VG/LV`), then every LV must be active.
//! - stop: `vgchange -an` (`lvchange -an`), every LV must be inactive (else the stop fails, or
//!   with `self_fence` the node reboots), then our tag is removed.
//! - status: every LV is active and the tag is ours (lvm.sh also deactivated a VG it found
//!   active without its tag; the failed status makes the service stop it here).
//! - Clustered volume groups (clvmd) are not handled: an error says so.
//! - Commands: `lvm <command>` with `LVM_SUPPRESS_FD_WARNINGS=1` and, if set (tests), the
//!   agent's `LVM_SYSTEM_DIR`.

use std::path::PathBuf;
use std::sync::Arc;

use super::agent::{Agent, AgentError, OpContext};
use super::exec::{self, CmdError, Deadline};

#[derive(Debug, thiserror::Error)]
pub enum LvmError {
    #[error("HA LVM: improper setup detected: {0}")]
    Setup(String),
    #[error("{what} is owned by {owner}, a cluster member")]
    OwnedByMember { what: String, owner: String },
    #[error("{what} carries the tag of node {owner}, and the cluster membership is not known here; if {owner} is down (fenced), clear it with `{clear}`")]
    OwnedUnknown {
        what: String,
        owner: String,
        clear: String,
    },
    #[error("{what}: logical volume {lv} is {state} after {op}")]
    Activation {
        what: String,
        lv: String,
        state: &'static str,
        op: &'static str,
    },
    #[error("{0} is a clustered volume group (clvmd), which this agent does not handle")]
    Clustered(String),
    #[error("{what} is not owned by this node ({node}): its tags are {tags:?}")]
    NotOwner {
        what: String,
        node: String,
        tags: Vec<String>,
    },
    #[error(transparent)]
    Cmd(#[from] CmdError),
}

impl From<LvmError> for AgentError {
    fn from(e: LvmError) -> Self {
        AgentError::Lvm(e)
    }
}

/// Whether a node is a member of the cluster now (`None`: cannot tell). The daemon gives
/// the agent its view of the membership; without it another node's tag is never removed.
pub trait Members: Send + Sync + std::fmt::Debug {
    fn is_member(&self, node: &str) -> Option<bool>;
}

/// Who owns a volume, from its tags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Owner {
    Nobody,
    Us,
    Other(String),
}

/// The owner by tags (`vg_owner`): ours if our tag is there, else the first other tag.
pub fn owner(tags: &[String], node: &str) -> Owner {
    if tags.iter().any(|t| t == node) {
        Owner::Us
    } else {
        match tags.first() {
            Some(t) => Owner::Other(t.clone()),
            None => Owner::Nobody,
        }
    }
}

/// `vgs/lvs -o tags --noheadings` output: comma-separated tags.
pub fn parse_tags(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

/// The setup check of lvm.sh over `lvmconfig activation/volume_list` output (`None`: not
/// set): it must name `@node` and must not name the VG itself.
pub fn check_volume_list(volume_list: Option<&str>, node: &str, vg: &str) -> Result<(), LvmError> {
    let Some(list) = volume_list else {
        return Err(LvmError::Setup(
            "\"volume_list\" not specified in lvm.conf".to_string(),
        ));
    };
    let entries: Vec<&str> = list
        .split_once('=')
        .map_or(list, |(_, v)| v)
        .trim()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(',')
        .map(|e| e.trim().trim_matches('"'))
        .filter(|e| !e.is_empty())
        .collect();
    if !entries.contains(&format!("@{node}").as_str()) {
        return Err(LvmError::Setup(format!(
            "@{node} missing from \"volume_list\" in lvm.conf"
        )));
    }
    if entries
        .iter()
        .any(|e| *e == vg || e.starts_with(&format!("{vg}/")))
    {
        return Err(LvmError::Setup(format!(
            "{vg} found in \"volume_list\" in lvm.conf"
        )));
    }
    Ok(())
}

/// `lv_attr` strings: is the LV active (5th character `a`)?
pub fn lv_active(attr: &str) -> bool {
    attr.trim().chars().nth(4) == Some('a')
}

/// The `lvm` agent.
#[derive(Debug, Default, Clone)]
pub struct LvmAgent {
    /// `LVM_SYSTEM_DIR` for the LVM commands (the directory of `lvm.conf`); `None`: LVM's
    /// default (`/etc/lvm`).
    pub system_dir: Option<PathBuf>,
    /// The cluster membership, when the daemon gives it.
    pub members: Option<Arc<dyn Members>>,
}

struct Target {
    vg: String,
    lv: Option<String>,
}

impl Target {
    fn from_ctx(ctx: &OpContext) -> Result<Target, AgentError> {
        let vg = ctx
            .param("vg_name")
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(AgentError::MissingParam("vg_name"))?;
        Ok(Target {
            vg: vg.to_string(),
            lv: ctx
                .param("lv_name")
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        })
    }

    /// What LVM commands name: `VG` or `VG/LV`.
    fn spec(&self) -> String {
        match &self.lv {
            Some(lv) => format!("{}/{lv}", self.vg),
            None => self.vg.clone(),
        }
    }

    fn what(&self) -> String {
        match &self.lv {
            Some(_) => format!("logical volume {}", self.spec()),
            None => format!("volume group {}", self.vg),
        }
    }
}

impl LvmAgent {
    fn env(&self) -> Vec<(String, String)> {
        let mut env = exec::base_env();
        env.push(("LVM_SUPPRESS_FD_WARNINGS".into(), "1".into()));
        if let Some(d) = &self.system_dir {
            env.push(("LVM_SYSTEM_DIR".into(), d.to_string_lossy().into_owned()));
        }
        env
    }

    fn lvm(&self, dl: &Deadline, args: &[&str]) -> Result<String, LvmError> {
        let mut all = vec![];
        all.extend_from_slice(args);
        Ok(exec::check(dl, &self.env(), "lvm", &all)?.stdout)
    }

    fn tags(&self, dl: &Deadline, t: &Target) -> Result<Vec<String>, LvmError> {
        let out = match &t.lv {
            Some(_) => self.lvm(dl, &["lvs", "--noheadings", "-o", "lv_tags", &t.spec()])?,
            None => self.lvm(dl, &["vgs", "--noheadings", "-o", "vg_tags", &t.vg])?,
        };
        Ok(parse_tags(&out))
    }

    /// (name, attr) of the LVs concerned.
    fn lvs(&self, dl: &Deadline, t: &Target) -> Result<Vec<(String, String)>, LvmError> {
        let out = self.lvm(
            dl,
            &["lvs", "--noheadings", "-o", "lv_name,lv_attr", &t.spec()],
        )?;
        Ok(out
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                Some((w.next()?.to_string(), w.next()?.to_string()))
            })
            .collect())
    }

    fn setup_check(&self, dl: &Deadline, t: &Target, node: &str) -> Result<(), LvmError> {
        let attr = self.lvm(dl, &["vgs", "--noheadings", "-o", "vg_attr", &t.vg])?;
        if attr.trim().chars().nth(5) == Some('c') {
            return Err(LvmError::Clustered(t.vg.clone()));
        }
        let list = exec::run(
            dl,
            &self.env(),
            "lvm",
            &["lvmconfig", "activation/volume_list"],
        )?;
        let list = (exec::code(&list) == 0).then(|| list.stdout.trim().to_string());
        check_volume_list(list.as_deref(), node, &t.vg)
    }

    fn tag_cmd(&self, t: &Target) -> &'static str {
        if t.lv.is_some() {
            "lvchange"
        } else {
            "vgchange"
        }
    }

    fn claim(&self, ctx: &OpContext, dl: &Deadline, t: &Target) -> Result<(), LvmError> {
        let node = ctx.node.as_str();
        let tags = self.tags(dl, t)?;
        match owner(&tags, node) {
            Owner::Us => {
                tracing::info!(service = %ctx.service, resource = %ctx.resource, "I own {}", t.what())
            }
            Owner::Nobody => {
                tracing::info!(service = %ctx.service, resource = %ctx.resource, "I can claim {}", t.what())
            }
            Owner::Other(o) => match self.members.as_ref().and_then(|m| m.is_member(&o)) {
                Some(false) => tracing::info!(service = %ctx.service, resource = %ctx.resource,
                    "{o} owns {} but is not a cluster member: claiming it", t.what()),
                Some(true) => {
                    return Err(LvmError::OwnedByMember {
                        what: t.what(),
                        owner: o,
                    })
                }
                None => {
                    return Err(LvmError::OwnedUnknown {
                        what: t.what(),
                        clear: format!("{} --deltag {o} {}", self.tag_cmd(t), t.spec()),
                        owner: o,
                    })
                }
            },
        }
        for tag in tags.iter().filter(|x| *x != node) {
            tracing::info!(service = %ctx.service, resource = %ctx.resource, "Stripping tag, {tag}");
            self.lvm(dl, &[self.tag_cmd(t), "--deltag", tag, &t.spec()])?;
        }
        if !tags.iter().any(|x| x == node) {
            self.lvm(dl, &[self.tag_cmd(t), "--addtag", node, &t.spec()])?;
            tracing::info!(service = %ctx.service, resource = %ctx.resource,
                "New tag \"{node}\" added to {}", t.spec());
        }
        Ok(())
    }

    fn all_lvs(
        &self,
        dl: &Deadline,
        t: &Target,
        active: bool,
        op: &'static str,
    ) -> Result<(), LvmError> {
        for (lv, attr) in self.lvs(dl, t)? {
            if lv_active(&attr) != active {
                return Err(LvmError::Activation {
                    what: t.what(),
                    lv,
                    state: if active { "inactive" } else { "active" },
                    op,
                });
            }
        }
        Ok(())
    }
}

impl Agent for LvmAgent {
    fn kind(&self) -> &'static str {
        "lvm"
    }

    fn start(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let t = Target::from_ctx(ctx)?;
        let dl = Deadline::of(ctx);
        self.setup_check(&dl, &t, &ctx.node)?;
        tracing::info!(service = %ctx.service, resource = %ctx.resource, "Starting {}", t.what());
        self.claim(ctx, &dl, &t)?;
        let cmd = if t.lv.is_some() {
            "lvchange"
        } else {
            "vgchange"
        };
        self.lvm(&dl, &[cmd, "-ay", &t.spec()])?;
        self.all_lvs(&dl, &t, true, "activation")?;
        Ok(())
    }

    fn stop(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let t = Target::from_ctx(ctx)?;
        let dl = Deadline::of(ctx);
        let cmd = if t.lv.is_some() {
            "lvchange"
        } else {
            "vgchange"
        };
        let deactivated = self.lvm(&dl, &[cmd, "-an", &t.spec()]);
        if let Err(e) = self.all_lvs(&dl, &t, false, "deactivation") {
            if ctx.param("self_fence").and_then(ccs::value::parse_bool) == Some(true) {
                tracing::error!(service = %ctx.service, resource = %ctx.resource,
                    "Unable to deactivate {} REBOOT", t.spec());
                // SAFETY: sync(2) and reboot(2) take no pointers; reboot returns only on failure.
                unsafe {
                    libc::sync();
                    libc::reboot(libc::RB_AUTOBOOT);
                }
            }
            deactivated?;
            return Err(e.into());
        }
        let tags = self.tags(&dl, &t)?;
        if owner(&tags, &ctx.node) == Owner::Us {
            self.lvm(&dl, &[self.tag_cmd(&t), "--deltag", &ctx.node, &t.spec()])?;
        }
        Ok(())
    }

    fn status(&self, ctx: &OpContext) -> Result<(), AgentError> {
        let t = Target::from_ctx(ctx)?;
        let dl = Deadline::of(ctx);
        let tags = self.tags(&dl, &t)?;
        if owner(&tags, &ctx.node) != Owner::Us {
            if tags.is_empty() {
                return Err(AgentError::NotRunning);
            }
            return Err(LvmError::NotOwner {
                what: t.what(),
                node: ctx.node.clone(),
                tags,
            }
            .into());
        }
        match self.all_lvs(&dl, &t, true, "start") {
            Ok(()) => Ok(()),
            Err(LvmError::Activation { .. }) => Err(AgentError::NotRunning),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ownership_from_tags() {
        let t = parse_tags("  node2,node1  \n");
        assert_eq!(t, ["node2", "node1"]);
        assert_eq!(owner(&t, "node1"), Owner::Us);
        assert_eq!(owner(&t, "node3"), Owner::Other("node2".into()));
        assert_eq!(owner(&parse_tags("   \n"), "node1"), Owner::Nobody);
    }

    #[test]
    fn the_volume_list_must_name_our_tag_and_not_the_group() {
        check_volume_list(Some("volume_list=[\"vg0\",\"@node1\"]"), "node1", "havg").unwrap();
        check_volume_list(Some("volume_list=\"@node1\""), "node1", "havg").unwrap();
        let e = check_volume_list(None, "node1", "havg").unwrap_err();
        assert_eq!(
            e.to_string(),
            "HA LVM: improper setup detected: \"volume_list\" not specified in lvm.conf"
        );
        let e = check_volume_list(Some("volume_list=[\"@node2\"]"), "node1", "havg").unwrap_err();
        assert!(e.to_string().contains("@node1 missing"), "{e}");
        let e = check_volume_list(Some("volume_list=[\"@node1\",\"havg\"]"), "node1", "havg")
            .unwrap_err();
        assert!(e.to_string().contains("havg found in"), "{e}");
        let e = check_volume_list(
            Some("volume_list=[\"@node1\",\"havg/lv1\"]"),
            "node1",
            "havg",
        )
        .unwrap_err();
        assert!(e.to_string().contains("havg found in"), "{e}");
    }

    #[test]
    fn lv_attributes() {
        assert!(lv_active("  -wi-a-----"));
        assert!(!lv_active("-wi-------"));
        assert!(!lv_active("-wi-XX----"));
        assert!(!lv_active(""));
    }
}
