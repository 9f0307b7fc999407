//! The one retry policy of every HTTP client of this tool (Apex Central, Vision One, Lumu
//! Defender, TAXII): which failures are tried again, how long to wait before the next try
//! (exponential back-off with jitter, or what the server asks for), the longest wait this
//! tool sits through, and how many tries a request gets.
//!
//! - Connection errors, time-outs, a body cut short and 5xx answers (a client may exempt a
//!   5xx that would only repeat, as Apex's "data not found") are tried [`RetryPolicy::attempts`]
//!   times in all, after an exponential back-off with jitter, or after the `Retry-After` a
//!   503 carries.
//! - A 429 is waited out as the server asks (`Retry-After` as delay-seconds or as an
//!   HTTP-date, RFC 9110 section 10.2.3; `RateLimit-Reset` in seconds, as Lumu sends it; the
//!   longest of them), else after the same back-off; at most
//!   [`RetryPolicy::max_rate_limit_waits`] times for one request. These waits do not use up
//!   the tries: the server said when to come back.
//! - A wait longer than [`RetryPolicy::max_wait`] is not started: the request fails at once
//!   with [`RateLimitSpent`], which names the server, the request and the wait it asked for.
//! - A value that cannot be read (neither seconds nor an HTTP-date) is warned about and the
//!   back-off applies; so does a date already past (the clocks differ).
//! - [`RetryPolicy::deadline`]: a wait that would end past it is not started
//!   ([`DeadlineReached`]). [`Retrier::next_wait`] is the one place every wait of every client
//!   is decided, and so the one place the run's deadline is checked.

use std::time::{Duration, Instant, SystemTime};

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// The longest wait honoured: a server asking for more (a spent daily quota, say) fails the
/// request at once. Lumu's rule: a 429 asking to wait more than 5 minutes means its daily
/// quota is spent (see docs/sources.md, "Lumu's quota").
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(300);
/// Rate-limit (429) waits one request sits through before giving up.
pub const MAX_RATE_LIMIT_WAITS: u32 = 20;

/// When and how often a request is tried again. One policy for every client; tests shorten
/// it with `with_retry`.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Tries in all, the first included, for connection errors, time-outs and 5xx.
    pub attempts: u32,
    /// The first back-off; it doubles each time, with jitter, up to `max_delay`.
    pub base_delay: Duration,
    pub max_delay: Duration,
    /// The longest wait started (see [`MAX_SERVER_WAIT`]).
    pub max_wait: Duration,
    /// 429 waits one request sits through (see [`MAX_RATE_LIMIT_WAITS`]).
    pub max_rate_limit_waits: u32,
    /// The run's deadline: a wait that would end past it is not started. `None`: no deadline.
    pub deadline: Option<Instant>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 5,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            max_wait: MAX_SERVER_WAIT,
            max_rate_limit_waits: MAX_RATE_LIMIT_WAITS,
            deadline: None,
        }
    }
}

impl RetryPolicy {
    /// The back-off before the `n`-th wait (`n` counts from 1): `base_delay` doubled `n - 1`
    /// times, at most `max_delay`, half of it fixed and half random (full jitter on one half
    /// spreads concurrent writers apart without ever retrying at once).
    pub fn backoff(&self, n: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << n.saturating_sub(1).min(16))
            .min(self.max_delay);
        exp / 2 + exp.mul_f64(fastrand::f64() / 2.0)
    }
}

/// What an answer's headers say about when to come back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerWait {
    /// Nothing (no header, or an HTTP-date already past).
    Unsaid,
    /// The longest wait the headers ask for.
    After(Duration),
    /// A header that is neither delay-seconds nor an HTTP-date: `name: value` as sent.
    Unreadable(String),
}

/// `Retry-After` (RFC 9110 section 10.2.3: delay-seconds, or an HTTP-date in any of the three
/// forms of section 5.6.7) and `RateLimit-Reset` (seconds, as Lumu sends it with 429), read
/// at `now`. The longest readable wait wins; a date already past says nothing.
pub fn server_wait(headers: &HeaderMap, now: SystemTime) -> ServerWait {
    let mut longest: Option<Duration> = None;
    let mut unreadable = None;
    for (name, value) in headers
        .get_all(RETRY_AFTER)
        .iter()
        .map(|v| ("Retry-After", v))
        .chain(
            headers
                .get_all("ratelimit-reset")
                .iter()
                .map(|v| ("RateLimit-Reset", v)),
        )
    {
        let text = String::from_utf8_lossy(value.as_bytes());
        let read = if name == "Retry-After" {
            parse_retry_after(&text, now)
        } else {
            parse_delay_seconds(&text).map(Some)
        };
        match read {
            Some(Some(wait)) => longest = Some(longest.map_or(wait, |l| l.max(wait))),
            Some(None) => {}
            None => unreadable = Some(format!("{name}: {}", text.trim())),
        }
    }
    match (longest, unreadable) {
        (Some(wait), _) => ServerWait::After(wait),
        (None, Some(text)) => ServerWait::Unreadable(text),
        (None, None) => ServerWait::Unsaid,
    }
}

/// One `Retry-After` value at `now`: `Some(Some(wait))`, `Some(None)` for an HTTP-date already
/// past, `None` when it is neither delay-seconds nor an HTTP-date.
///
/// The dates are read by the `httpdate` crate (hyper's), which takes the three forms RFC 9110
/// section 5.6.7 requires a recipient to accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37
/// GMT`), the obsolete RFC 850 form (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov
/// 6 08:49:37 1994`). chrono's RFC 2822 reader would take only the first.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Option<Duration>> {
    if let Some(wait) = parse_delay_seconds(value) {
        return Some(Some(wait));
    }
    let date = httpdate::parse_http_date(value.trim()).ok()?;
    Some(date.duration_since(now).ok().filter(|d| !d.is_zero()))
}

/// `delay-seconds = 1*DIGIT` (RFC 9110 section 10.2.3); more seconds than a `u64` holds is
/// the longest wait there is (and so more than any limit).
fn parse_delay_seconds(value: &str) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)))
}

/// A wait as a message shows it: `0.3s`, `21s`, `400s (6 min 40 s)`.
pub fn describe_wait(wait: Duration) -> String {
    let secs = wait.as_secs();
    if secs < 10 && wait.subsec_millis() != 0 {
        format!("{:.1}s", wait.as_secs_f64())
    } else if secs < 60 {
        format!("{secs}s")
    } else if secs < 3600 {
        format!("{secs}s ({} min {} s)", secs / 60, secs % 60)
    } else {
        format!("{secs}s (about {:.1} h)", secs as f64 / 3600.0)
    }
}

/// A server asks for a longer wait than this tool sits through (more than
/// [`RetryPolicy::max_wait`], or after [`RetryPolicy::max_rate_limit_waits`] waits for one
/// request): its rate limit or quota is spent. Returned inside `anyhow::Error` by
/// `http::send_retrying`; callers that go on without the answer (Lumu's context
/// reads) find it with `downcast_ref`.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{server} asks to wait {wait} before another try at {name} (HTTP {status}){why}: \
     its rate limit or quota is spent (a daily quota, probably); run again later",
    wait = describe_wait(*.wait),
    why = self.why()
)]
pub struct RateLimitSpent {
    pub server: String,
    /// The request, by method and path.
    pub name: String,
    /// The status that asked to wait (429, or a 503 with `Retry-After`).
    pub status: u16,
    /// The wait the server asked for (for a spent number of waits: the last one).
    pub wait: Duration,
    /// The longest wait this tool sits through.
    pub max_wait: Duration,
    /// Waits already sat through for this request.
    pub waits: u32,
}

impl RateLimitSpent {
    /// The wait asked for, in whole seconds.
    pub fn wait_secs(&self) -> u64 {
        self.wait.as_secs()
    }

    fn why(&self) -> String {
        if self.wait > self.max_wait {
            format!(
                ", longer than the {} this tool waits",
                describe_wait(self.max_wait)
            )
        } else {
            format!(", after {} waits for this one request", self.waits)
        }
    }
}

/// A wait that would end past the run's deadline ([`RetryPolicy::deadline`]): not started.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "{server}: {name} got {got}, and the wait of {wait} before another try would end past the \
     run's deadline (--max-run-minutes); not waited",
    wait = describe_wait(*.wait)
)]
pub struct DeadlineReached {
    pub server: String,
    pub name: String,
    /// What the last try got: `HTTP 429 (rate limit)`, `HTTP 503`, or a connection error.
    pub got: String,
    pub wait: Duration,
}

/// What went wrong with one try.
#[derive(Debug, Clone)]
pub enum Setback {
    /// No answer: a connection error, a time-out, a body cut short. The text says what.
    Transport(String),
    /// An answer worth another try (5xx), and what its headers say about when.
    Server {
        status: StatusCode,
        wait: ServerWait,
    },
    /// 429, and what its headers say about when.
    RateLimited { wait: ServerWait },
}

/// Why no more tries are made.
#[derive(Debug, Clone)]
pub enum GiveUp {
    /// The tries of [`RetryPolicy::attempts`] are used up: the caller reports its last failure.
    TriesUsed { tries: u32 },
    /// The server asks for a wait longer than honoured, or for too many.
    Spent(RateLimitSpent),
    /// The wait would end past the run's deadline.
    Deadline(DeadlineReached),
}

/// The tries of one request under a [`RetryPolicy`]: after each failed try, the wait before
/// the next one, or why there is none.
#[derive(Debug)]
pub struct Retrier<'a> {
    policy: &'a RetryPolicy,
    server: &'a str,
    name: &'a str,
    /// Tries made that failed with a connection error, a time-out or a 5xx.
    failed: u32,
    /// 429 waits sat through.
    rate_waits: u32,
}

impl<'a> Retrier<'a> {
    /// The tries of request `name` (method and path, never a URL: URLs can carry keys) to
    /// `server`.
    pub fn new(policy: &'a RetryPolicy, server: &'a str, name: &'a str) -> Self {
        Retrier {
            policy,
            server,
            name,
            failed: 0,
            rate_waits: 0,
        }
    }

    /// The wait before the next try after `setback`, or why there is no next try. The one
    /// place every client's waits are decided: the cap, the number of tries and the run's
    /// deadline are checked here.
    pub fn next_wait(&mut self, setback: &Setback) -> Result<Duration, GiveUp> {
        let p = self.policy;
        let (status, wait) = match setback {
            Setback::RateLimited { wait } => {
                if self.rate_waits >= p.max_rate_limit_waits {
                    return Err(self.spent(429, self.asked(wait, self.rate_waits + 1)));
                }
                self.rate_waits += 1;
                (429, self.asked(wait, self.rate_waits))
            }
            Setback::Transport(_) | Setback::Server { .. } => {
                self.failed += 1;
                if self.failed >= p.attempts {
                    return Err(GiveUp::TriesUsed { tries: self.failed });
                }
                match setback {
                    Setback::Server { status, wait } => {
                        (status.as_u16(), self.asked(wait, self.failed))
                    }
                    _ => (0, p.backoff(self.failed)),
                }
            }
        };
        if wait > p.max_wait {
            return Err(self.spent(status, wait));
        }
        if let Some(deadline) = p.deadline
            && Instant::now() + wait > deadline
        {
            let got = match setback {
                Setback::RateLimited { .. } => "HTTP 429 (rate limit)".to_owned(),
                Setback::Server { status, .. } => format!("HTTP {}", status.as_u16()),
                Setback::Transport(detail) => detail.clone(),
            };
            return Err(GiveUp::Deadline(DeadlineReached {
                server: self.server.to_owned(),
                name: self.name.to_owned(),
                got,
                wait,
            }));
        }
        Ok(wait)
    }

    /// [`Self::next_wait`], then the wait itself (logged: a 429's at the default level, as
    /// people watching a slow run want to know why).
    pub async fn wait(&mut self, setback: &Setback) -> Result<(), GiveUp> {
        let wait = self.next_wait(setback)?;
        match setback {
            Setback::RateLimited { .. } => tracing::info!(
                "{} rate limit reached at {}; waiting {}",
                self.server,
                self.name,
                describe_wait(wait)
            ),
            Setback::Server { status, .. } => tracing::debug!(
                "{} answered {} with HTTP {status}; try {} in {wait:?}",
                self.server,
                self.name,
                self.failed + 1
            ),
            Setback::Transport(detail) => tracing::debug!(
                "cannot reach {} for {}: {detail}; try {} in {wait:?}",
                self.server,
                self.name,
                self.failed + 1
            ),
        }
        tokio::time::sleep(wait).await;
        Ok(())
    }

    /// The wait `wait` asks for, else the `n`-th back-off; an unreadable value is warned
    /// about (never a silent guess).
    fn asked(&self, wait: &ServerWait, n: u32) -> Duration {
        match wait {
            ServerWait::After(wait) => *wait,
            ServerWait::Unsaid => self.policy.backoff(n),
            ServerWait::Unreadable(text) => {
                let backoff = self.policy.backoff(n);
                tracing::warn!(
                    "{} sent `{text}` with its answer to {}: neither seconds nor an HTTP date; \
                     waiting {} (the normal back-off)",
                    self.server,
                    self.name,
                    describe_wait(backoff)
                );
                backoff
            }
        }
    }

    fn spent(&self, status: u16, wait: Duration) -> GiveUp {
        GiveUp::Spent(RateLimitSpent {
            server: self.server.to_owned(),
            name: self.name.to_owned(),
            status,
            wait,
            max_wait: self.policy.max_wait,
            waits: self.rate_waits,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.append(*name, HeaderValue::from_str(value).unwrap());
        }
        h
    }

    /// 1994-11-06T08:49:37Z, the date of RFC 9110's examples.
    fn rfc_date() -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777)
    }

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_most() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        for _ in 0..50 {
            let d1 = p.backoff(1);
            assert!(d1 >= Duration::from_millis(50) && d1 <= Duration::from_millis(100));
            let d3 = p.backoff(3);
            assert!(d3 >= Duration::from_millis(200) && d3 <= Duration::from_millis(400));
            assert!(p.backoff(30) <= Duration::from_secs(1));
        }
    }

    #[test]
    fn retry_after_takes_seconds_and_every_http_date_form() {
        let now = rfc_date() - Duration::from_secs(20);
        // RFC 9110 section 5.6.7's three forms of one instant.
        for form in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
        ] {
            assert_eq!(
                parse_retry_after(form, now),
                Some(Some(Duration::from_secs(20))),
                "{form}"
            );
        }
        assert_eq!(
            parse_retry_after(" 120 ", now),
            Some(Some(Duration::from_secs(120)))
        );
        assert_eq!(parse_retry_after("0", now), Some(Some(Duration::ZERO)));
        // A date already past says nothing.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", rfc_date()),
            Some(None)
        );
        for bad in ["soon", "-5", "1.5", "", "Sun, 06 Nov 1994 25:49:37 GMT"] {
            assert_eq!(parse_retry_after(bad, now), None, "{bad}");
        }
        // More seconds than a u64 holds: the longest wait, not an error.
        assert_eq!(
            parse_retry_after("99999999999999999999999", now),
            Some(Some(Duration::from_secs(u64::MAX)))
        );
    }

    #[test]
    fn the_longest_readable_header_wins() {
        let now = rfc_date() - Duration::from_secs(90);
        let h = headers(&[
            ("retry-after", "Sun, 06 Nov 1994 08:49:37 GMT"),
            ("ratelimit-reset", "30"),
        ]);
        assert_eq!(
            server_wait(&h, now),
            ServerWait::After(Duration::from_secs(90))
        );
        let h = headers(&[("retry-after", "later"), ("ratelimit-reset", "7")]);
        assert_eq!(
            server_wait(&h, now),
            ServerWait::After(Duration::from_secs(7))
        );
        let h = headers(&[("retry-after", "later")]);
        assert_eq!(
            server_wait(&h, now),
            ServerWait::Unreadable("Retry-After: later".into())
        );
        assert_eq!(server_wait(&HeaderMap::new(), now), ServerWait::Unsaid);
    }

    fn quick() -> RetryPolicy {
        RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(100),
            ..RetryPolicy::default()
        }
    }

    #[test]
    fn failures_use_up_the_tries_and_429s_do_not() {
        let p = quick();
        let mut r = Retrier::new(&p, "S", "GET /x");
        let limited = Setback::RateLimited {
            wait: ServerWait::After(Duration::from_secs(2)),
        };
        for _ in 0..10 {
            assert_eq!(r.next_wait(&limited).unwrap(), Duration::from_secs(2));
        }
        let down = Setback::Transport("refused".into());
        for _ in 0..4 {
            let wait = r.next_wait(&down).unwrap();
            assert!(wait >= Duration::from_millis(50) && wait <= Duration::from_millis(100));
        }
        assert!(matches!(
            r.next_wait(&down),
            Err(GiveUp::TriesUsed { tries: 5 })
        ));
        // A 503's Retry-After is honoured.
        let mut r = Retrier::new(&p, "S", "GET /x");
        let busy = Setback::Server {
            status: StatusCode::SERVICE_UNAVAILABLE,
            wait: ServerWait::After(Duration::from_secs(3)),
        };
        assert_eq!(r.next_wait(&busy).unwrap(), Duration::from_secs(3));
    }

    #[test]
    fn an_unreadable_or_missing_wait_is_the_back_off_never_one_second() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(4),
            max_delay: Duration::from_millis(4),
            ..RetryPolicy::default()
        };
        let mut r = Retrier::new(&p, "S", "GET /x");
        for wait in [
            ServerWait::Unreadable("Retry-After: x".into()),
            ServerWait::Unsaid,
        ] {
            let d = r.next_wait(&Setback::RateLimited { wait }).unwrap();
            assert!(
                d >= Duration::from_millis(2) && d <= Duration::from_millis(4),
                "{d:?}"
            );
        }
    }

    #[test]
    fn a_wait_past_the_cap_fails_at_once_with_the_real_wait() {
        let p = quick();
        let mut r = Retrier::new(&p, "the TAXII server", "GET /api1/objects/");
        let asked = Duration::from_secs(401);
        let Err(GiveUp::Spent(spent)) = r.next_wait(&Setback::RateLimited {
            wait: ServerWait::After(asked),
        }) else {
            panic!("a 401 s wait is past the 5-minute cap");
        };
        assert_eq!(spent.wait_secs(), 401);
        let text = spent.to_string();
        assert!(
            text.starts_with("the TAXII server asks to wait 401s (6 min 41 s) before another try at GET /api1/objects/ (HTTP 429), longer than the 300s (5 min 0 s)"),
            "{text}"
        );
    }

    #[test]
    fn the_rate_limit_waits_of_one_request_are_counted() {
        let p = RetryPolicy {
            max_rate_limit_waits: 2,
            ..quick()
        };
        let mut r = Retrier::new(&p, "S", "GET /x");
        let limited = Setback::RateLimited {
            wait: ServerWait::After(Duration::from_millis(1)),
        };
        r.next_wait(&limited).unwrap();
        r.next_wait(&limited).unwrap();
        let Err(GiveUp::Spent(spent)) = r.next_wait(&limited) else {
            panic!("the third wait is one too many");
        };
        assert!(spent.to_string().contains("after 2 waits"), "{spent}");
    }

    #[test]
    fn a_wait_that_would_end_past_the_deadline_is_not_started() {
        let p = RetryPolicy {
            deadline: Some(Instant::now() + Duration::from_secs(5)),
            ..quick()
        };
        let mut r = Retrier::new(&p, "Vision One", "POST /x");
        assert!(
            r.next_wait(&Setback::RateLimited {
                wait: ServerWait::After(Duration::from_secs(1))
            })
            .is_ok()
        );
        let Err(GiveUp::Deadline(d)) = r.next_wait(&Setback::RateLimited {
            wait: ServerWait::After(Duration::from_secs(60)),
        }) else {
            panic!("past the deadline");
        };
        assert!(d.to_string().contains("--max-run-minutes"), "{d}");
    }

    #[test]
    fn waits_are_described_in_seconds_and_minutes() {
        assert_eq!(describe_wait(Duration::from_millis(300)), "0.3s");
        assert_eq!(describe_wait(Duration::from_secs(21)), "21s");
        assert_eq!(describe_wait(Duration::from_secs(400)), "400s (6 min 40 s)");
    }
}
