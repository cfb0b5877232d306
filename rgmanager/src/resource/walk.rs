//! The order in which a tree's resources are started, stopped and checked, and what a
//! failure does to the rest of the walk: rgmanager's `_res_op`, `_res_op_internal`,
//! `_res_op_by_level`, `_do_child_levels` and `_do_child_default_level`, kept separate from
//! running anything so that the same walk drives the real agents, `rg_test noop` and tests.
//!
//! - start: the node, then its children: the child types its agent declares, level by level
//!   (`start=` 1..100, within a level in the agent's child-type order, then list order), then the
//!   other children in list order. The first failure ends the walk.
//! - stop: the other children in reverse list order, then the typed children by `stop=` level
//!   (same-type siblings in reverse), then the node. Every stop is attempted; a failure is
//!   reported at the end.
//! - status: like start; a failure inside an independent subtree marks that subtree for a
//!   restart (or, non-critical, for a stop) instead of failing the whole group.

use super::tree::{Forest, NodeId, ResId};

/// Highest child level rgmanager looked at (`RESOURCE_MAX_LEVELS`).
pub const MAX_LEVELS: u32 = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    Start,
    Stop,
    Status,
}

impl Op {
    /// The agent's name for the operation.
    pub fn as_str(&self) -> &'static str {
        match self {
            Op::Start => "start",
            Op::Stop => "stop",
            Op::Status => "status",
        }
    }
}

/// rgmanager's `SFL_*` result bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Flags {
    /// The operation failed for the group.
    pub failure: bool,
    /// A status failure was confined to independent subtrees, which need a restart.
    pub recoverable: bool,
    /// A non-critical subtree failed and has to be stopped; the group runs on partly.
    pub partial: bool,
}

impl Flags {
    const FAILURE: Flags = Flags {
        failure: true,
        recoverable: false,
        partial: false,
    };

    fn any(&self) -> bool {
        self.failure || self.recoverable || self.partial
    }
}

impl std::ops::BitOrAssign for Flags {
    fn bitor_assign(&mut self, o: Flags) {
        self.failure |= o.failure;
        self.recoverable |= o.recoverable;
        self.partial |= o.partial;
    }
}

/// What to do with an independent subtree whose status failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Recovery {
    /// Stop and start just this subtree.
    Restart,
    /// Stop this non-critical subtree and leave it stopped.
    StopNonCritical,
    /// Its restarts are used up: fail the group.
    Fail,
}

/// The side that actually does things; the walk only decides the order.
pub trait Executor {
    /// Runs `op` on one node. `false` = the operation failed.
    fn exec(&mut self, forest: &Forest, node: NodeId, op: Op) -> bool;

    /// True if the node was stopped on purpose (a non-critical subtree after its failure):
    /// it is neither started nor checked by a walk over its group.
    fn is_disabled(&self, _node: NodeId) -> bool {
        false
    }

    /// `None` when the node has no restart counter, else whether its restarts are used up.
    fn restarts_exceeded(&mut self, _forest: &Forest, _node: NodeId) -> Option<bool> {
        None
    }

    /// Counts one restart of the node.
    fn record_restart(&mut self, _forest: &Forest, _node: NodeId) {}

    /// Forgets the node's restarts (it failed for good, or was stopped as non-critical).
    fn clear_restarts(&mut self, _forest: &Forest, _node: NodeId) {}

    /// An independent node is being started. rgmanager forgot its restarts on a plain start
    /// (not on the restart that recovers it); the default does that.
    fn independent_start(&mut self, forest: &Forest, node: NodeId) {
        self.clear_restarts(forest, node);
    }
}

/// The result of a walk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Walk {
    pub flags: Flags,
    /// Independent subtrees that a status walk found failed and that should be restarted.
    pub restart: Vec<NodeId>,
    /// Non-critical subtrees that should be stopped and left stopped.
    pub stop: Vec<NodeId>,
}

struct Walker<'a, E: Executor> {
    forest: &'a Forest,
    exec: &'a mut E,
    marks: Walk,
}

/// Runs `op` over the whole subtree of `node`.
pub fn walk_node<E: Executor>(forest: &Forest, exec: &mut E, node: NodeId, op: Op) -> Walk {
    let mut w = Walker {
        forest,
        exec,
        marks: Walk::default(),
    };
    let flags = w.op_internal(node, None, None, op);
    w.marks.flags = flags;
    w.marks
}

/// rgmanager's `res_start`/`res_stop`/`res_status(&tree, res)`: walks every top-level group
/// looking for the tree nodes of resource `first` and runs `op` on their subtrees (what
/// `rg_test` does for `start service NAME`).
pub fn walk_resource<E: Executor>(forest: &Forest, exec: &mut E, first: ResId, op: Op) -> Walk {
    let mut w = Walker {
        forest,
        exec,
        marks: Walk::default(),
    };
    let roots = forest.roots.clone();
    let flags = w.res_op(&roots, Some(first), None, op);
    w.marks.flags = flags;
    w.marks
}

impl<E: Executor> Walker<'_, E> {
    fn kind(&self, node: NodeId) -> &str {
        &self.forest.resource_of(node).kind
    }

    /// `_res_op`: `op` on each node of a sibling list (optionally only those of one type);
    /// stops go in reverse; starts and checks end at the first failure.
    fn res_op(
        &mut self,
        list: &[NodeId],
        first: Option<ResId>,
        kind: Option<&str>,
        op: Op,
    ) -> Flags {
        let mut rv = Flags::default();
        if op == Op::Stop {
            for &n in list.iter().rev() {
                rv |= self.op_internal(n, first, kind, op);
            }
        } else {
            for &n in list {
                rv |= self.op_internal(n, first, kind, op);
                if rv.failure {
                    return rv;
                }
            }
        }
        rv
    }

    /// What an independent node does when its status (or its children's) failed.
    fn independent_failure(&mut self, node: NodeId) -> Flags {
        let n = self.forest.node(node);
        let exceeded = self.exec.restarts_exceeded(self.forest, node);
        let decision = if n.non_critical && exceeded.unwrap_or(true) {
            Recovery::StopNonCritical
        } else if !exceeded.unwrap_or(false) {
            Recovery::Restart
        } else {
            Recovery::Fail
        };
        match decision {
            Recovery::StopNonCritical => {
                self.exec.clear_restarts(self.forest, node);
                self.marks.stop.push(node);
                Flags {
                    failure: false,
                    recoverable: true,
                    partial: true,
                }
            }
            Recovery::Restart => {
                self.exec.record_restart(self.forest, node);
                self.marks.restart.push(node);
                Flags {
                    failure: false,
                    recoverable: true,
                    partial: false,
                }
            }
            Recovery::Fail => {
                self.exec.clear_restarts(self.forest, node);
                Flags::FAILURE
            }
        }
    }

    /// `_res_op_internal`: one node and its subtree.
    fn op_internal(
        &mut self,
        node: NodeId,
        first: Option<ResId>,
        kind: Option<&str>,
        op: Op,
    ) -> Flags {
        if let Some(k) = kind {
            if !k.is_empty() && self.kind(node) != k {
                return Flags::default();
            }
        }
        let res = self.forest.node(node).res;
        let me = first.is_none_or(|f| f == res);
        let mut rv = Flags::default();

        if me && op == Op::Start {
            if self.exec.is_disabled(node) {
                return Flags::default();
            }
            if self.forest.node(node).independent {
                self.exec.independent_start(self.forest, node);
            }
            if !self.exec.exec(self.forest, node, Op::Start) {
                return Flags::FAILURE;
            }
        } else if me
            && op == Op::Status
            && !self.exec.is_disabled(node)
            && !self.exec.exec(self.forest, node, Op::Status)
        {
            // A failed node fails its children too, independent or not.
            if self.forest.node(node).independent {
                return self.independent_failure(node);
            }
            return Flags::FAILURE;
        }

        if !self.forest.node(node).children.is_empty() {
            let sub_first = if me { None } else { first };
            rv |= self.by_level(node, sub_first, op);
            if op == Op::Status && rv.failure && self.forest.node(node).independent {
                rv = self.independent_failure(node);
            }
        }

        if me && op == Op::Stop && !self.exec.exec(self.forest, node, Op::Stop) {
            return Flags::FAILURE;
        }
        rv
    }

    /// `_res_op_by_level`.
    fn by_level(&mut self, node: NodeId, first: Option<ResId>, op: Op) -> Flags {
        let rt = self.forest.resource_of(node).rtype;
        let children = self.forest.node(node).children.clone();
        if rt.children.is_empty() {
            return self.res_op(&children, first, None, op);
        }
        let mut rv = Flags::default();
        if op == Op::Stop {
            rv |= self.default_level(node, &children, first, op);
            rv |= self.child_levels(node, &children, first, op);
        } else {
            rv |= self.child_levels(node, &children, first, op);
            if rv.failure {
                return rv;
            }
            rv |= self.default_level(node, &children, first, op);
        }
        rv
    }

    /// `_do_child_levels`.
    fn child_levels(
        &mut self,
        node: NodeId,
        children: &[NodeId],
        first: Option<ResId>,
        op: Op,
    ) -> Flags {
        let rt = self.forest.resource_of(node).rtype;
        let mut rv = Flags::default();
        for level in 1..=MAX_LEVELS {
            for cr in rt.children {
                let lev = if op == Op::Stop { cr.stop } else { cr.start };
                if lev != Some(level) {
                    continue;
                }
                rv |= self.res_op(children, first, Some(cr.kind), op);
                if rv.failure && op != Op::Stop {
                    return rv;
                }
            }
            // rgmanager also ended a start/status at a level after a merely recoverable result.
            if rv.any() && op != Op::Stop {
                return rv;
            }
        }
        rv
    }

    /// `_do_child_default_level`: children whose type has no level under this parent.
    fn default_level(
        &mut self,
        node: NodeId,
        children: &[NodeId],
        first: Option<ResId>,
        op: Op,
    ) -> Flags {
        let rt = self.forest.resource_of(node).rtype;
        let leveled = |k: &str| {
            rt.children.iter().any(|c| {
                c.kind == k && (c.start.is_some_and(|l| l > 0) || c.stop.is_some_and(|l| l > 0))
            })
        };
        let mut rv = Flags::default();
        if op == Op::Stop {
            for &c in children.iter().rev() {
                if !leveled(self.kind(c)) {
                    rv |= self.op_internal(c, first, None, op);
                }
            }
        } else {
            for &c in children {
                if !leveled(self.kind(c)) {
                    rv |= self.op_internal(c, first, None, op);
                    if rv.failure {
                        return rv;
                    }
                }
            }
        }
        rv
    }
}

/// An executor that runs nothing and records the calls, as `rg_test noop` printed them.
/// Calls for which the node has no matching action are skipped, as rgmanager's `res_exec`
/// skipped them before printing.
#[derive(Debug, Default)]
pub struct Recorder {
    /// `(op, node)` in call order.
    pub calls: Vec<(Op, NodeId)>,
    /// Nodes whose operation should fail (to test failure handling).
    pub fail: Vec<(Op, NodeId)>,
}

impl Recorder {
    /// The calls as `[op] type:primary` lines.
    pub fn lines(&self, forest: &Forest) -> Vec<String> {
        self.calls
            .iter()
            .map(|(op, n)| format!("[{}] {}", op.as_str(), forest.name_of(*n)))
            .collect()
    }
}

/// The status action rgmanager would run now: the deepest `status` action whose interval has
/// elapsed (`do_status`). `elapsed(i)` gives the seconds since action `i` last ran (`None` =
/// never, which counts as due).
pub fn due_status_action(
    actions: &[super::rules::Action],
    elapsed: impl Fn(usize) -> Option<u64>,
) -> Option<usize> {
    let mut best: Option<usize> = None;
    for (i, a) in actions.iter().enumerate() {
        if a.name != "status" || a.interval == 0 {
            continue;
        }
        if elapsed(i).is_some_and(|e| e < a.interval) {
            continue;
        }
        if best.is_none_or(|b| a.depth > actions[b].depth) {
            best = Some(i);
        }
    }
    best
}

impl Executor for Recorder {
    fn exec(&mut self, forest: &Forest, node: NodeId, op: Op) -> bool {
        let n = forest.node(node);
        let has_action = match op {
            Op::Status => due_status_action(&n.actions, |_| None).is_some(),
            _ => n.action(op.as_str(), 0).is_some(),
        };
        if !has_action {
            return true;
        }
        self.calls.push((op, node));
        !self.fail.contains(&(op, node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forest(xml: &str) -> Forest {
        Forest::build(&ccs::parse_str(xml).unwrap())
    }

    fn node(f: &Forest, kind: &str, name: &str) -> NodeId {
        let r = f.find_resource(kind, name).unwrap();
        f.nodes.iter().position(|n| n.res == r).unwrap()
    }

    const SVC: &str = r#"<cluster name="c" config_version="1"><rm>
      <service name="s">
        <script name="late" file="/l"/>
        <apache name="web"/>
        <ip address="10.0.0.1"/>
        <fs name="fs1" mountpoint="/a" device="/dev/a">
          <nfsexport name="e"><nfsclient name="c1" target="a"/><nfsclient name="c2" target="b"/></nfsexport>
          <fs name="fs2" mountpoint="/a/b" device="/dev/b"/>
        </fs>
        <lvm name="vg" vg_name="vg0"/>
        <mysql name="db"/>
      </service>
    </rm></cluster>"#;

    #[test]
    fn start_and_stop_order() {
        let f = forest(SVC);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        let mut r = Recorder::default();
        let w = walk_node(&f, &mut r, f.roots[0], Op::Start);
        assert!(!w.flags.failure);
        assert_eq!(
            r.lines(&f),
            [
                "[start] service:s",
                "[start] lvm:vg",
                "[start] fs:fs1",
                "[start] fs:fs2",
                "[start] nfsexport:e",
                "[start] nfsclient:c1",
                "[start] nfsclient:c2",
                "[start] ip:10.0.0.1",
                "[start] script:late",
                "[start] apache:web",
                "[start] mysql:db",
            ]
        );
        let mut r = Recorder::default();
        walk_node(&f, &mut r, f.roots[0], Op::Stop);
        assert_eq!(
            r.lines(&f),
            [
                "[stop] mysql:db",
                "[stop] apache:web",
                "[stop] script:late",
                "[stop] ip:10.0.0.1",
                "[stop] nfsclient:c2",
                "[stop] nfsclient:c1",
                "[stop] nfsexport:e",
                "[stop] fs:fs2",
                "[stop] fs:fs1",
                "[stop] lvm:vg",
                "[stop] service:s",
            ]
        );
    }

    #[test]
    fn first_start_failure_aborts_stop_goes_on() {
        let f = forest(SVC);
        let ip = node(&f, "ip", "10.0.0.1");
        let mut r = Recorder {
            fail: vec![(Op::Start, ip)],
            ..Recorder::default()
        };
        let w = walk_node(&f, &mut r, f.roots[0], Op::Start);
        assert!(w.flags.failure);
        assert_eq!(r.lines(&f).last().unwrap(), "[start] ip:10.0.0.1");
        assert_eq!(r.calls.len(), 8);

        let mut r = Recorder {
            fail: vec![(Op::Stop, ip)],
            ..Recorder::default()
        };
        let w = walk_node(&f, &mut r, f.roots[0], Op::Stop);
        assert!(w.flags.failure);
        assert_eq!(r.calls.len(), 11, "every stop is attempted");
    }

    #[test]
    fn status_of_independent_subtree_marks_only_it() {
        let f = forest(
            r#"<cluster name="c" config_version="1"><rm>
              <service name="s">
                <ip address="10.0.0.1"/>
                <script name="a" file="/a" __independent_subtree="1"><script name="a2" file="/a2"/></script>
                <script name="b" file="/b" __independent_subtree="2"/>
                <script name="c" file="/c"/>
              </service>
            </rm></cluster>"#,
        );
        let a2 = node(&f, "script", "a2");
        let b = node(&f, "script", "b");
        let c = node(&f, "script", "c");
        let a = node(&f, "script", "a");
        // A child of an independent subtree fails: restart that subtree only.
        let mut r = Recorder {
            fail: vec![(Op::Status, a2)],
            ..Recorder::default()
        };
        let w = walk_node(&f, &mut r, f.roots[0], Op::Status);
        assert_eq!(
            (w.flags.failure, w.flags.recoverable, w.flags.partial),
            (false, true, false)
        );
        assert_eq!(w.restart, vec![a]);
        // Non-critical: stop it, the service is partial.
        let mut r = Recorder {
            fail: vec![(Op::Status, b)],
            ..Recorder::default()
        };
        let w = walk_node(&f, &mut r, f.roots[0], Op::Status);
        assert!(w.flags.partial && !w.flags.failure);
        assert_eq!(w.stop, vec![b]);
        // A plain resource fails: the service fails.
        let mut r = Recorder {
            fail: vec![(Op::Status, c)],
            ..Recorder::default()
        };
        let w = walk_node(&f, &mut r, f.roots[0], Op::Status);
        assert!(w.flags.failure);
        assert!(w.restart.is_empty());
    }

    #[test]
    fn deepest_due_status_action() {
        use super::super::rules::Action;
        let a = |d: u32, i: u64| Action {
            name: "status".into(),
            depth: d,
            timeout: 10,
            interval: i,
        };
        let acts = vec![a(0, 20), a(10, 60), a(20, 0)];
        assert_eq!(due_status_action(&acts, |_| None), Some(1));
        assert_eq!(
            due_status_action(&acts, |i| Some(if i == 1 { 30 } else { 25 })),
            Some(0)
        );
        assert_eq!(due_status_action(&acts, |_| Some(5)), None);
    }
}
