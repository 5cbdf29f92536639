//! The host PID of each running container's init, noted when the container
//! started, so halting it (`direct_kill`) needs no call to the engine —
//! which on a busy machine answers an inspect in a hundred milliseconds or
//! more. Only containers without network rules are noted (halting one with
//! rules reads its address from the engine to remove them), and a paused
//! one is not killed directly (a frozen process takes no signal).

use std::collections::HashMap;
use std::sync::Mutex;

#[derive(Default)]
pub(crate) struct Inits {
    noted: Mutex<HashMap<String, Init>>,
}

#[derive(Clone, Copy)]
struct Init {
    pid: i64,
    paused: bool,
}

impl Inits {
    fn noted(&self) -> std::sync::MutexGuard<'_, HashMap<String, Init>> {
        self.noted.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The container started with its init at host PID `pid`.
    pub(crate) fn started(&self, container: &str, pid: i64) {
        let init = Init { pid, paused: false };
        self.noted().insert(container.to_string(), init);
    }

    /// The container has (or is getting) network rules, or is going: it is
    /// halted the engine's way.
    pub(crate) fn forget(&self, container: &str) {
        self.noted().remove(container);
    }

    /// The container is being paused (`true`) or was resumed (`false`).
    pub(crate) fn paused(&self, container: &str, paused: bool) {
        if let Some(init) = self.noted().get_mut(container) {
            init.paused = paused;
        }
    }

    /// The init PID to kill the container by, if it can be killed directly
    /// (forgotten from here on: a container is halted once).
    pub(crate) fn take_for_halt(&self, container: &str) -> Option<i64> {
        self.noted()
            .remove(container)
            .filter(|init| !init.paused)
            .map(|init| init.pid)
    }
}

#[cfg(test)]
mod tests {
    use super::Inits;

    #[test]
    fn a_started_container_is_halted_directly_once() {
        let inits = Inits::default();
        inits.started("c", 42);
        assert_eq!(inits.take_for_halt("c"), Some(42));
        assert_eq!(inits.take_for_halt("c"), None);
        assert_eq!(inits.take_for_halt("never-started"), None);
    }

    #[test]
    fn paused_or_ruled_containers_are_not_halted_directly() {
        let inits = Inits::default();
        inits.started("paused", 1000);
        inits.paused("paused", true);
        assert_eq!(inits.take_for_halt("paused"), None);

        inits.started("resumed", 1001);
        inits.paused("resumed", true);
        inits.paused("resumed", false);
        assert_eq!(inits.take_for_halt("resumed"), Some(1001));

        inits.started("ruled", 1002);
        inits.forget("ruled");
        assert_eq!(inits.take_for_halt("ruled"), None);
    }
}
