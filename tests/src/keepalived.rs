//! keepalived (VRRP) on namespace hosts, for the failover benchmark's comparison row: the same
//! hosts, the same floating address, the same web servers, the same client — only the HA stack
//! differs. keepalived never fences: with a cable pulled both sides hold the address, which the
//! benchmark's address watch reports.

use std::net::Ipv4Addr;

use crate::hosts::{HostError, Hosts, Result};

/// Writes `keepalived.conf` for `host` (VRRP instance on `eth0`, `priority`, advert interval in
/// seconds, VRRPv3 so that sub-second adverts are allowed) and its boot script: the web server
/// `httpd NAME` and keepalived in the foreground of the namespace.
pub fn configure(
    h: &Hosts,
    host: &str,
    priority: u8,
    advert: f64,
    vip: Ipv4Addr,
    httpd: &str,
    web_name: &str,
) -> Result<()> {
    let dir = h.host(host)?.dir.clone();
    let conf = dir.join("keepalived.conf");
    let text = format!(
        "global_defs {{\n  router_id {host}\n  vrrp_version 3\n  script_user root\n  enable_script_security\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  priority {priority}\n  advert_int {advert}\n  virtual_ipaddress {{\n    {vip}/24\n  }}\n}}\n"
    );
    std::fs::write(&conf, text).map_err(|source| HostError::Io {
        what: format!("cannot write {}", conf.display()),
        source,
    })?;
    let d = dir.display();
    h.set_boot(
        host,
        &format!(
            // A boot starts with an empty /run: stale pid files of the killed instance go.
            "rm -f '{d}/keepalived.pid' '{d}/vrrp.pid' '{d}/checkers.pid'\n\
             '{httpd}' {web_name} >> '{d}/httpd.log' 2>&1 &\n\
             exec keepalived -n -l -D --vrrp -f '{d}/keepalived.conf' -p '{d}/keepalived.pid' -r '{d}/vrrp.pid' -c '{d}/checkers.pid' >> '{d}/keepalived.log' 2>&1"
        ),
    )?;
    Ok(())
}
