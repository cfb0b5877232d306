//! The resource agents tested for real, as root (CI runs as root; `scripts/test` installs the
//! packages): one test binary for all of them, so that CI links one program instead of one per
//! agent. docs/resource-agents.md says what each agent does and what this machine's kernel
//! allows.
//!
//! - [`fs`]: ext4 and ext2 on loop devices and images, forced unmount, fsck, `rg_test`.
//! - [`ocf`]: Debian's IPaddr2 and Filesystem through `rg_test`; the OCF protocol with an
//!   agent of the test's own.
//! - [`systemd`]: units against a systemd of the test's own in PID and mount namespaces.
//! - [`servers`]: Debian's apache2, mariadb-server and postgresql.
//! - [`lvm`]: HA LVM on loop devices.
//! - [`nfs`]: `exportfs`, the NFS server check, inheritance.
//! - [`golden`]: start/stop orders of services mixing every type.

mod fs;
mod golden;
mod lvm;
mod nfs;
mod ocf;
mod servers;
mod storage;
mod systemd;
