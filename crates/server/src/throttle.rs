//! Password guessing is slowed per client address: each address may fail to log in `burst` times, then once per
//! `refill` interval. While an address is out of attempts every login from it is refused with
//! `429 too_many_attempts` and a `Retry-After`, *before* the password is hashed — so guessing stays slow and the
//! server's CPU (Argon2 is deliberately expensive) is not spent on it. Successful logins cost nothing.
//!
//! Per address rather than per account on purpose: locking an account after failures would let anyone lock an
//! expert out of their work. The address is the TCP peer's; behind a reverse proxy all clients share the proxy's
//! address, so there the limits (`login_failure_burst`, `login_failure_refill_s`) must allow for the whole office.
//!
//! One task owns the table (no shared lock): the handlers ask it over a channel. Entries that have refilled to
//! the full burst are forgotten, so the table holds only addresses that failed recently.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// At most this many addresses are remembered; beyond it the fullest entries are dropped first.
const MAX_ENTRIES: usize = 100_000;

enum Ask {
    /// May this address try now? `Err(wait)` when it must wait.
    Check(IpAddr, oneshot::Sender<Result<(), Duration>>),
    /// This address just failed.
    Failed(IpAddr),
}

/// The handlers' side of the throttle.
#[derive(Clone)]
pub struct LoginThrottle {
    tx: mpsc::Sender<Ask>,
}

impl LoginThrottle {
    /// Start the owning task. `burst` failures are allowed at once; one more each `refill`.
    pub fn start(burst: u32, refill: Duration) -> Self {
        let (tx, rx) = mpsc::channel(1024);
        tokio::spawn(Table { burst: burst.max(1) as f64, refill, entries: HashMap::new() }.run(rx));
        LoginThrottle { tx }
    }

    /// `Ok` when `addr` may try to log in; `Err(wait)` when it has used its attempts. If the owning task is gone
    /// (shutting down), logins are let through: the throttle slows guessing, it never decides who gets in.
    pub async fn check(&self, addr: IpAddr) -> Result<(), Duration> {
        let (reply, answer) = oneshot::channel();
        if self.tx.send(Ask::Check(addr, reply)).await.is_err() {
            return Ok(());
        }
        answer.await.unwrap_or(Ok(()))
    }

    /// Count a failed attempt from `addr`.
    pub async fn failed(&self, addr: IpAddr) {
        let _ = self.tx.send(Ask::Failed(addr)).await;
    }
}

struct Entry {
    tokens: f64,
    at: Instant,
}

struct Table {
    burst: f64,
    refill: Duration,
    entries: HashMap<IpAddr, Entry>,
}

impl Table {
    async fn run(mut self, mut rx: mpsc::Receiver<Ask>) {
        while let Some(ask) = rx.recv().await {
            let now = Instant::now();
            match ask {
                Ask::Check(addr, reply) => {
                    let _ = reply.send(self.check(addr, now));
                }
                Ask::Failed(addr) => self.failed(addr, now),
            }
        }
    }

    /// Tokens of `addr` now (refilled since last seen); a forgotten address has the full burst.
    fn tokens(&self, addr: IpAddr, now: Instant) -> f64 {
        match self.entries.get(&addr) {
            None => self.burst,
            Some(e) => {
                let gained = now.duration_since(e.at).as_secs_f64() / self.refill.as_secs_f64().max(f64::EPSILON);
                (e.tokens + gained).min(self.burst)
            }
        }
    }

    fn check(&mut self, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        let tokens = self.tokens(addr, now);
        if tokens >= 1.0 {
            if tokens >= self.burst {
                self.entries.remove(&addr);
            }
            Ok(())
        } else {
            Err(self.refill.mul_f64(1.0 - tokens))
        }
    }

    fn failed(&mut self, addr: IpAddr, now: Instant) {
        let tokens = (self.tokens(addr, now) - 1.0).max(0.0);
        if self.entries.len() >= MAX_ENTRIES && !self.entries.contains_key(&addr) {
            self.forget_fullest(now);
        }
        self.entries.insert(addr, Entry { tokens, at: now });
    }

    /// Make room: drop the tenth of entries closest to a full burst (the least suspicious).
    fn forget_fullest(&mut self, now: Instant) {
        let mut by_tokens: Vec<(f64, IpAddr)> =
            self.entries.keys().map(|a| (self.tokens(*a, now), *a)).collect::<Vec<_>>();
        by_tokens.sort_by(|a, b| b.0.total_cmp(&a.0));
        for (_, addr) in by_tokens.into_iter().take(MAX_ENTRIES / 10 + 1) {
            self.entries.remove(&addr);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(burst: u32, refill_s: u64) -> Table {
        Table { burst: burst as f64, refill: Duration::from_secs(refill_s), entries: HashMap::new() }
    }

    #[test]
    fn an_address_gets_its_burst_then_one_attempt_per_refill() {
        let mut t = table(3, 30);
        let a: IpAddr = "192.0.2.7".parse().unwrap();
        let b: IpAddr = "192.0.2.8".parse().unwrap();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(t.check(a, t0).is_ok());
            t.failed(a, t0);
        }
        let wait = t.check(a, t0).unwrap_err();
        assert_eq!(wait, Duration::from_secs(30));
        // Another address is not affected.
        assert!(t.check(b, t0).is_ok());
        // Half a refill later it still waits, for the other half; a full refill gives one attempt.
        assert_eq!(t.check(a, t0 + Duration::from_secs(15)).unwrap_err(), Duration::from_secs(15));
        assert!(t.check(a, t0 + Duration::from_secs(30)).is_ok());
        t.failed(a, t0 + Duration::from_secs(30));
        assert!(t.check(a, t0 + Duration::from_secs(31)).is_err());
        // After a long quiet time the address is forgotten with a full burst.
        assert!(t.check(a, t0 + Duration::from_secs(3600)).is_ok());
        assert!(t.entries.is_empty());
    }

    #[test]
    fn the_table_stays_bounded() {
        let mut t = table(2, 30);
        let now = Instant::now();
        for i in 0..(MAX_ENTRIES as u32 + 10) {
            t.failed(IpAddr::from(i.to_be_bytes()), now);
        }
        assert!(t.entries.len() <= MAX_ENTRIES);
    }
}
