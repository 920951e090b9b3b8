//! Facts about a connection that both the listener (`http::tls`) and the
//! handlers read: the peer ([`ConnInfo`], in request extensions), the
//! "authenticated" marker on responses, and the connection counters that
//! `/metrics` renders. Plain data, so the service layer can read a peer
//! address without depending on the http layer.

use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Peer info that handlers can read from request extensions
/// (`axum::Extension<ConnInfo>`).
#[derive(Clone, Debug)]
pub struct ConnInfo {
    /// The TCP peer address.
    pub remote: SocketAddr,
    /// Whether the connection is TLS (always true from `http::tls::serve_tls`).
    pub tls: bool,
    /// The client certificate chain in DER, end-entity first, when the client
    /// presented one; it has been verified against the configured client roots.
    pub client_cert_chain_der: Option<Arc<Vec<Vec<u8>>>>,
}

/// A marker a handler (or middleware) puts into a response's extensions when the
/// request was authenticated. The connection that carried it is then shed last when
/// all connection slots are taken (see `http::tls::ServeOptions::max_connections`).
#[derive(Clone, Copy, Debug)]
pub struct Authenticated;

/// Connection counters, shared with whoever renders metrics.
#[derive(Debug, Default)]
pub struct ConnStats {
    /// Connections currently holding a slot (gauge).
    pub open: AtomicU64,
    /// Connections accepted and admitted.
    pub accepted: AtomicU64,
    /// Connections closed right after accept because their source already held
    /// `http::tls::ServeOptions::max_connections_per_source` connections.
    pub refused_per_source: AtomicU64,
    /// Idle connections closed to make room for a new one when every slot was taken.
    pub shed: AtomicU64,
    /// Connections closed because the TLS handshake did not complete in time.
    pub handshake_timeouts: AtomicU64,
    /// Connections closed because a request's headers (or the HTTP/2 preface) did
    /// not arrive in time.
    pub header_timeouts: AtomicU64,
    /// Connections closed after `http::tls::ServeOptions::idle_timeout` without a request.
    pub idle_timeouts: AtomicU64,
    /// Requests whose body did not arrive within `http::tls::ServeOptions::body_timeout`
    /// (answered 408; the connection is closed).
    pub body_timeouts: AtomicU64,
}

impl ConnStats {
    /// Prometheus text exposition of the counters.
    pub fn render(&self) -> String {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        format!(
            "# HELP ward_connections_open Connections holding a slot.\n# TYPE ward_connections_open gauge\nward_connections_open {}\n\
             # HELP ward_connections_accepted_total Connections accepted.\n# TYPE ward_connections_accepted_total counter\nward_connections_accepted_total {}\n\
             # HELP ward_connections_refused_total Connections closed at accept: the source already holds its share.\n# TYPE ward_connections_refused_total counter\nward_connections_refused_total{{reason=\"per_source\"}} {}\n\
             # HELP ward_connections_shed_total Idle connections closed to admit a new one when all slots were taken.\n# TYPE ward_connections_shed_total counter\nward_connections_shed_total {}\n\
             # HELP ward_connections_timed_out_total Connections closed by a deadline.\n# TYPE ward_connections_timed_out_total counter\n\
             ward_connections_timed_out_total{{phase=\"handshake\"}} {}\nward_connections_timed_out_total{{phase=\"header\"}} {}\n\
             ward_connections_timed_out_total{{phase=\"idle\"}} {}\nward_connections_timed_out_total{{phase=\"body\"}} {}\n",
            g(&self.open),
            g(&self.accepted),
            g(&self.refused_per_source),
            g(&self.shed),
            g(&self.handshake_timeouts),
            g(&self.header_timeouts),
            g(&self.idle_timeouts),
            g(&self.body_timeouts),
        )
    }
}

/// The error a request body yields when it has not fully arrived within
/// `http::tls::ServeOptions::body_timeout`. The connection is closed after the response; the
/// API layer answers 408 when it finds this error in a body-read failure
/// ([`is_body_timeout`]).
#[derive(Clone, Copy, Debug)]
pub struct BodyTimeout;

impl fmt::Display for BodyTimeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the request body did not arrive in time")
    }
}

impl std::error::Error for BodyTimeout {}

/// Whether `err` (or anything in its source chain) is a [`BodyTimeout`].
pub fn is_body_timeout(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if e.is::<BodyTimeout>() {
            return true;
        }
        cur = e.source();
    }
    false
}
