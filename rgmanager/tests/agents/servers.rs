//! The `apache`, `mysql` and `postgres-8` agents with Debian's apache2, mariadb-server and
//! postgresql: Apache behind a floating address in a network namespace through `rg_test`
//! (the generated configuration makes it listen on the service's address only), MariaDB and
//! PostgreSQL on data directories made for the test, each started, answering on its port,
//! checked, stopped. Root is needed (CI runs as root).

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::storage::{ctx, need_root, sh};
use rgmanager::resource::agent::{Agent, AgentError};
use rgmanager::resource::servers::{Dirs, MysqlAgent, PostgresAgent};

/// A free port on loopback, never the same twice in this test binary (the tests run at once,
/// and the kernel may hand a port it just gave back to the next caller).
fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

fn answers(addr: &str) -> bool {
    let a: SocketAddr = addr.parse().unwrap();
    TcpStream::connect_timeout(&a, Duration::from_secs(2)).is_ok()
}

/// A directory the servers' users can traverse (a tempdir is 0700).
fn open_dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    d
}

fn private_dirs(d: &Path) -> Dirs {
    Dirs {
        conf: d.join("etc-cluster"),
        pid: d.join("run-cluster"),
    }
}

#[test]
fn apache_on_the_service_address_in_a_namespace_through_rg_test() {
    need_root();
    assert!(
        Path::new("/usr/sbin/apache2").exists(),
        "apache2 is not installed (scripts/test installs it)"
    );
    let ns = format!("rgapp-{}", std::process::id());
    sh("ip", &["netns", "add", &ns]);
    struct Del(String);
    impl Drop for Del {
        fn drop(&mut self) {
            let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
        }
    }
    let _del = Del(ns.clone());
    for args in [
        &["link", "set", "lo", "up"][..],
        &["link", "add", "ha", "type", "veth", "peer", "name", "pb"],
        &["link", "set", "ha", "up"],
        &["link", "set", "pb", "up"],
        &["addr", "add", "10.204.1.1/24", "dev", "ha"],
    ] {
        let mut all = vec!["-n", ns.as_str()];
        all.extend_from_slice(args);
        sh("ip", &all);
    }
    let d = open_dir();
    let root = d.path();
    std::fs::create_dir_all(root.join("htdocs")).unwrap();
    std::fs::create_dir_all(root.join("run")).unwrap();
    std::fs::write(root.join("htdocs/index.html"), "served by the cluster\n").unwrap();
    std::fs::write(
        root.join("httpd.conf"),
        format!(
            r#"ServerRoot "{root}"
ServerName rgtest
LoadModule mpm_event_module /usr/lib/apache2/modules/mod_mpm_event.so
LoadModule authz_core_module /usr/lib/apache2/modules/mod_authz_core.so
LoadModule dir_module /usr/lib/apache2/modules/mod_dir.so
User www-data
Group www-data
Listen 8080
PidFile "{root}/run/not-this-one.pid"
DefaultRuntimeDir "{root}/run"
ErrorLog "{root}/error.log"
DocumentRoot "{root}/htdocs"
DirectoryIndex index.html
<Directory "{root}/htdocs">
  Require all granted
</Directory>
"#,
            root = root.display()
        ),
    )
    .unwrap();
    // A unique instance name: rg_test uses the default /etc/cluster and /var/run/cluster.
    let name = format!("www{}", std::process::id());
    let conf = root.join("cluster.conf");
    std::fs::write(
        &conf,
        format!(
            r#"<cluster name="c" config_version="1">
  <clusternodes><clusternode name="node1" nodeid="1"/></clusternodes>
  <rm>
    <service name="web">
      <ip address="10.204.1.50/24" sleeptime="0"/>
      <apache name="{name}" server_root="{root}" config_file="httpd.conf" shutdown_wait="10"/>
    </service>
  </rm>
</cluster>
"#,
            root = root.display()
        ),
    )
    .unwrap();
    struct Clean(String);
    impl Drop for Clean {
        fn drop(&mut self) {
            let pid = format!("/var/run/cluster/apache/apache:{}.pid", self.0);
            if let Ok(p) = std::fs::read_to_string(&pid) {
                if let Ok(p) = p.trim().parse::<i32>() {
                    // SAFETY: kill(2) on the httpd this test started.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
            let _ = std::fs::remove_file(pid);
            let _ = std::fs::remove_dir_all(format!("/etc/cluster/apache/apache:{}", self.0));
        }
    }
    let _clean = Clean(name.clone());
    let netns = format!("--net=/run/netns/{ns}");
    let rg_test = |op: &str| {
        crate::storage::rg_test(
            &["nsenter", &netns],
            &["test", conf.to_str().unwrap(), op, "service", "web"],
        )
    };
    let get = |host: &str| {
        let out = Command::new("nsenter")
            .arg(&netns)
            .args(["curl", "-s", "-m", "5", &format!("http://{host}:8080/")])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let (rc, out, err) = rg_test("start");
    assert_eq!(rc, Some(0), "{out}{err}");
    assert_eq!(get("10.204.1.50"), "served by the cluster\n");
    // Only on the service's address: the configuration's plain `Listen 8080` was replaced.
    assert_eq!(get("10.204.1.1"), "");
    let generated =
        std::fs::read_to_string(format!("/etc/cluster/apache/apache:{name}/httpd.conf")).unwrap();
    assert!(
        generated.contains("Listen 10.204.1.50:8080\n"),
        "{generated}"
    );
    assert!(generated.contains("### Listen 8080\n"), "{generated}");
    let (rc, out, err) = rg_test("status");
    assert_eq!(rc, Some(0), "{out}{err}");
    let (rc, out, err) = rg_test("stop");
    assert_eq!(rc, Some(0), "{out}{err}");
    assert_eq!(get("10.204.1.50"), "");
    let (rc, _, err) = rg_test("status");
    assert_eq!(rc, Some(1));
    assert!(err.contains("returned 7 (not running)"), "{err}");
}

#[test]
fn mariadb_started_checked_and_stopped() {
    need_root();
    assert!(
        Path::new("/usr/bin/mysqld_safe").exists(),
        "mariadb-server is not installed (scripts/test installs it)"
    );
    let d = open_dir();
    let data = d.path().join("data");
    let port = free_port();
    let cnf = d.path().join("my.cnf");
    std::fs::write(
        &cnf,
        format!(
            "[mysqld]\ndatadir={data}\nsocket={data}/mysqld.sock\nport={port}\nuser=mysql\nlog-error={data}/error.log\nskip-log-bin\ninnodb_buffer_pool_size=16M\n",
            data = data.display(),
        ),
    )
    .unwrap();
    sh(
        "mariadb-install-db",
        &[
            &format!("--defaults-file={}", cnf.display()),
            "--skip-test-db",
            "--auth-root-authentication-method=normal",
        ],
    );
    let a = MysqlAgent {
        dirs: private_dirs(d.path()),
    };
    let mut c = ctx(
        "mysql",
        "db",
        &[
            ("name", "db"),
            ("config_file", cnf.to_str().unwrap()),
            // Generous: on a loaded machine InnoDB's shutdown flush can take long; a normal
            // stop takes a second or two.
            ("shutdown_wait", "120"),
        ],
    );
    c.resource = "mysql:db".into();
    c.timeout = Some(Duration::from_secs(180));
    c.service_ips = vec!["127.0.0.1".into()];
    struct Kill(std::path::PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            if let Ok(p) = std::fs::read_to_string(&self.0) {
                if let Ok(p) = p.trim().parse::<i32>() {
                    // SAFETY: kill(2) on the server this test started.
                    unsafe { libc::kill(p, libc::SIGKILL) };
                }
            }
        }
    }
    let pid_file = d.path().join("run-cluster/mysql/mysql:db.pid");
    let _kill = Kill(pid_file.clone());
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    a.start(&c).unwrap();
    let addr = format!("127.0.0.1:{port}");
    assert!(
        storage_wait(|| answers(&addr)),
        "mariadb does not answer on {addr}"
    );
    a.status(&c).unwrap();
    // Started twice: already running.
    a.start(&c).unwrap();
    a.stop(&c).unwrap();
    assert!(!pid_file.exists());
    assert!(!answers(&addr));
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    a.stop(&c).unwrap();
}

fn storage_wait(mut f: impl FnMut() -> bool) -> bool {
    for _ in 0..100 {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn postgresql_started_checked_and_stopped() {
    need_root();
    let d = open_dir();
    let data = d.path().join("data");
    std::fs::create_dir(&data).unwrap();
    sh("chown", &["postgres", data.to_str().unwrap()]);
    let initdb = std::fs::read_dir("/usr/lib/postgresql")
        .expect("postgresql is not installed (scripts/test installs it)")
        .flatten()
        .map(|e| e.path().join("bin/initdb"))
        .find(|p| p.exists())
        .expect("no initdb");
    sh(
        "su",
        &[
            "-",
            "postgres",
            "-c",
            &format!(
                "{} -D {} -A trust >/dev/null",
                initdb.display(),
                data.display()
            ),
        ],
    );
    let port = free_port();
    let pg_conf = data.join("postgresql.conf");
    let mut conf = std::fs::read_to_string(&pg_conf).unwrap();
    // The socket goes where the postgres user may write: its data directory.
    conf.push_str(&format!(
        "port = {port}\nunix_socket_directories = '{}'\nlisten_addresses = '*'\nshared_buffers = 16MB\n",
        data.display()
    ));
    std::fs::write(&pg_conf, conf).unwrap();
    let a = PostgresAgent {
        dirs: private_dirs(d.path()),
    };
    let mut c = ctx(
        "postgres-8",
        "pg",
        &[
            ("name", "pg"),
            ("config_file", pg_conf.to_str().unwrap()),
            ("postmaster_user", "postgres"),
            ("shutdown_wait", "60"),
            ("postmaster_options", &format!("-D {}", data.display())),
        ],
    );
    c.resource = "postgres-8:pg".into();
    c.timeout = Some(Duration::from_secs(120));
    c.service_ips = vec!["127.0.0.1".into()];
    let pid_file = d.path().join("run-cluster/postgres-8/postgres-8:pg.pid");
    struct Kill(std::path::PathBuf);
    impl Drop for Kill {
        fn drop(&mut self) {
            if let Ok(p) = std::fs::read_to_string(&self.0) {
                if let Some(p) = p.lines().next().and_then(|l| l.trim().parse::<i32>().ok()) {
                    // SAFETY: kill(2) on the server this test started.
                    unsafe { libc::kill(p, libc::SIGQUIT) };
                }
            }
        }
    }
    let _kill = Kill(pid_file.clone());
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    a.start(&c).unwrap();
    let addr = format!("127.0.0.1:{port}");
    assert!(answers(&addr), "postgres does not answer on {addr}");
    // The generated configuration overrode the original's listen_addresses = '*'.
    let generated = std::fs::read_to_string(
        d.path()
            .join("etc-cluster/postgres-8/postgres-8:pg/postgresql.conf"),
    )
    .unwrap();
    assert!(generated.contains("listen_addresses = '127.0.0.1'\n"));
    assert!(generated.contains("### listen_addresses = '*'\n"));
    a.status(&c).unwrap();
    a.stop(&c).unwrap();
    assert!(!answers(&addr));
    assert!(matches!(a.status(&c), Err(AgentError::NotRunning)));
    // Without an address in the service, the start is refused (postgres-8.sh did too).
    c.service_ips.clear();
    let e = a.start(&c).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("no IP addresses found for service"),
        "{e}"
    );
}
