//! The native agents, one module per device type; each provides an [`crate::agent::AgentSpec`]
//! and a [`crate::agent::FenceDevice`].

pub mod apc;
pub mod ipmilan;
pub mod virsh;

/// The native agent installed under `name` (`fence_ipmilan`, or one of its other names).
pub fn by_name(name: &str) -> Option<&'static crate::agent::AgentSpec> {
    let all: [&'static crate::agent::AgentSpec; 3] = [&ipmilan::SPEC, &apc::SPEC, &virsh::SPEC];
    all.into_iter()
        .find(|s| s.name == name || s.symlinks.iter().any(|(n, _)| *n == name))
}

#[cfg(test)]
mod tests {
    #[test]
    fn agents_by_name() {
        assert_eq!(
            super::by_name("fence_ipmilan").map(|s| s.name),
            Some("fence_ipmilan")
        );
        assert_eq!(
            super::by_name("fence_ipmilanplus").map(|s| s.name),
            Some("fence_ipmilan")
        );
        assert_eq!(
            super::by_name("fence_apc").map(|s| s.name),
            Some("fence_apc")
        );
        assert_eq!(
            super::by_name("fence_virsh").map(|s| s.name),
            Some("fence_virsh")
        );
        assert!(super::by_name("fence_ilo").is_none());
    }
}
