//! `{port}` and `{port:NAME}` (DESIGN §11): free TCP ports, each asked of the kernel (a
//! listener on port 0 of the loopback address, closed at once) and never handed out twice in a
//! run, so no two instances share one. What a port is worth is checked by the service binding
//! it: a port another program takes between the choice and the bind makes that service fail
//! with its own words.

use std::collections::HashSet;

/// The ports given to this run's instances.
#[derive(Debug, Default)]
pub(crate) struct Ports {
    given: HashSet<u16>,
}

impl Ports {
    /// A port free now and not given before in this run.
    pub(crate) fn pick(&mut self) -> std::io::Result<u16> {
        // The kernel hands out its ephemeral ports in turn; one it gave us earlier comes back
        // only after a full turn, so a few tries always suffice.
        for _ in 0..64 {
            let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
            let port = listener.local_addr()?.port();
            if self.given.insert(port) {
                return Ok(port);
            }
        }
        Err(std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            "the kernel kept offering ports this run already gave out",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_free_and_never_twice() {
        let mut ports = Ports::default();
        let mut seen = HashSet::new();
        for _ in 0..200 {
            let p = ports.pick().unwrap();
            assert!(p > 0);
            assert!(seen.insert(p), "port {p} given twice");
            // Free when given: something can listen on it.
            drop(std::net::TcpListener::bind(("127.0.0.1", p)).unwrap());
        }
    }
}
