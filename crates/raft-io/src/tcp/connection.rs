//! One connection, plain or TLS, with the handshake deadline and the "did the other
//! side close it?" probe the writer uses before reusing an idle connection.

use std::io::{self, ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::Instant;

/// A connection's byte stream.
pub(crate) enum Connection {
    Plain(TcpStream),
    #[cfg(feature = "tls")]
    Client(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
    #[cfg(feature = "tls")]
    Server(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

/// Sets the socket's read and write timeouts to what is left until `deadline`.
pub(crate) fn until(socket: &TcpStream, deadline: Instant) -> io::Result<()> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(io::Error::new(ErrorKind::TimedOut, "handshake timed out"));
    }
    socket.set_read_timeout(Some(left))?;
    socket.set_write_timeout(Some(left))
}

impl Connection {
    /// The TCP socket underneath.
    pub(crate) fn socket(&self) -> &TcpStream {
        match self {
            Self::Plain(stream) => stream,
            #[cfg(feature = "tls")]
            Self::Client(stream) => stream.get_ref(),
            #[cfg(feature = "tls")]
            Self::Server(stream) => stream.get_ref(),
        }
    }

    /// Completes the TLS handshake (nothing to do for a plain connection) by
    /// `deadline`.
    #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
    pub(crate) fn handshake(&mut self, deadline: Instant) -> io::Result<()> {
        match self {
            Self::Plain(_) => Ok(()),
            #[cfg(feature = "tls")]
            Self::Client(stream) => {
                complete_handshake(&mut stream.conn, &mut stream.sock, deadline)
            }
            #[cfg(feature = "tls")]
            Self::Server(stream) => {
                complete_handshake(&mut stream.conn, &mut stream.sock, deadline)
            }
        }
    }

    /// The certificate the other side proved itself with, if this is TLS.
    #[cfg(feature = "tls")]
    pub(crate) fn peer_certificate(&self) -> Option<rustls::pki_types::CertificateDer<'static>> {
        let certificates = match self {
            Self::Plain(_) => None,
            Self::Client(stream) => stream.conn.peer_certificates(),
            Self::Server(stream) => stream.conn.peer_certificates(),
        }?;
        certificates
            .first()
            .map(|certificate| certificate.clone().into_owned())
    }

    /// Whether the other side closed (or broke) a connection this side only writes
    /// to: anything readable on it, an end of stream or an error means it is gone.
    pub(crate) fn closed_by_peer(&mut self) -> bool {
        if self.socket().set_nonblocking(true).is_err() {
            return true;
        }
        let mut byte = [0u8; 1];
        let probe = match self {
            Self::Plain(stream) => stream.peek(&mut byte),
            #[cfg(feature = "tls")]
            Self::Client(stream) => stream.read(&mut byte),
            #[cfg(feature = "tls")]
            Self::Server(stream) => stream.read(&mut byte),
        };
        let open = matches!(&probe, Err(error) if error.kind() == ErrorKind::WouldBlock);
        self.socket().set_nonblocking(false).is_err() || !open
    }
}

/// Drives a TLS handshake on `socket`, each round bounded by what is left of `deadline`.
#[cfg(feature = "tls")]
fn complete_handshake<D: rustls::SideData>(
    connection: &mut rustls::ConnectionCommon<D>,
    socket: &mut TcpStream,
    deadline: Instant,
) -> io::Result<()> {
    while connection.is_handshaking() {
        until(socket, deadline)?;
        let _ = connection.complete_io(socket)?;
    }
    Ok(())
}

impl Read for Connection {
    fn read(&mut self, buffer: &mut [u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.read(buffer),
            #[cfg(feature = "tls")]
            Self::Client(stream) => stream.read(buffer),
            #[cfg(feature = "tls")]
            Self::Server(stream) => stream.read(buffer),
        }
    }
}

impl Write for Connection {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Self::Plain(stream) => stream.write(bytes),
            #[cfg(feature = "tls")]
            Self::Client(stream) => stream.write(bytes),
            #[cfg(feature = "tls")]
            Self::Server(stream) => stream.write(bytes),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Plain(stream) => stream.flush(),
            #[cfg(feature = "tls")]
            Self::Client(stream) => stream.flush(),
            #[cfg(feature = "tls")]
            Self::Server(stream) => stream.flush(),
        }
    }
}
