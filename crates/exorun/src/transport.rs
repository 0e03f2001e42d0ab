//! The async `Transport` trait and its implementations.
//!
//! - [`DuplexTransport`]: an in-memory pair of bounded channels ([`duplex_pair`]), for tests and
//!   for embedding two runtimes in one process. Works unchanged under madsim.
//! - [`TcpTransport`]: frames over a `tokio::net::TcpStream` (madsim's simulated stream under
//!   `--cfg madsim`), each written as a `u32` little-endian length followed by that many bytes.
//!
//! Both refuse frames larger than their `frame_size_max` ([`FRAME_SIZE_MAX_DEFAULT`] unless
//! configured): on send, and, for TCP, when the peer announces one, before anything is
//! allocated for it.

use std::fmt;
use std::net::SocketAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The largest frame a transport carries unless configured otherwise: 16 MiB. A frame is one
/// neorpc envelope, so this bounds the arguments or results of a single call.
pub const FRAME_SIZE_MAX_DEFAULT: usize = 16 * 1024 * 1024;

/// The size of a TCP frame's length prefix (`u32`, little-endian).
pub const FRAME_HEADER_SIZE: usize = 4;

/// How many bytes `TcpTransport` asks the socket for at once when no larger frame is pending.
const READ_CHUNK_SIZE: usize = 64 * 1024;

/// A buffer that grew past this for one large frame is released once that frame is done, so a
/// single big call does not pin its memory for the life of the connection.
const BUFFER_RETAIN_MAX: usize = 1024 * 1024;

// A length prefix must be able to state every frame we accept.
const _: () = assert!(FRAME_SIZE_MAX_DEFAULT <= u32::MAX as usize);
const _: () = assert!(READ_CHUNK_SIZE <= BUFFER_RETAIN_MAX);

/// What can go wrong moving frames.
#[derive(Debug)]
pub enum Error {
    /// The underlying stream failed.
    Io(std::io::Error),
    /// The connection is closed for sending: the peer went away, [`DuplexTransport::close`] was
    /// called, or an earlier failure left the stream unusable.
    Closed,
    /// A frame larger than the transport's `frame_size_max`, sent or announced by the peer.
    FrameTooLarge { size: u64, max: usize },
    /// The stream ended in the middle of a frame. `expected` counts the frame's bytes on the
    /// wire (length prefix included; just the 4-byte prefix if even that was cut short),
    /// `received` how many of them arrived.
    Truncated { expected: usize, received: usize },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "transport i/o: {e}"),
            Error::Closed => write!(f, "transport closed"),
            Error::FrameTooLarge { size, max } => {
                write!(
                    f,
                    "frame of {size} bytes exceeds frame_size_max ({max} bytes)"
                )
            }
            Error::Truncated { expected, received } => write!(
                f,
                "stream ended inside a frame: expected {expected} bytes, received {received}"
            ),
        }
    }
}

/// No `source()`: the message of [`Error::Io`] includes the i/o error, so a chain printed with
/// `{:#}` says it once.
impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

/// A bidirectional, message-oriented connection to one peer. Each `send` delivers one whole
/// frame; each `recv` returns one whole frame, or `Ok(None)` once the peer has closed the stream.
///
/// An error from `recv` is final: the stream cannot be resynchronized after it.
#[async_trait::async_trait]
pub trait Transport: Send + Sync + 'static {
    /// Queues one frame for transmission.
    async fn send(&self, frame: &[u8]) -> Result<(), Error>;

    /// Awaits the next whole frame. `Ok(None)` at end of stream.
    async fn recv(&self) -> Result<Option<Vec<u8>>, Error>;
}

fn check_frame_size(size: usize, max: usize) -> Result<(), Error> {
    if size > max {
        return Err(Error::FrameTooLarge {
            size: size as u64,
            max,
        });
    }
    Ok(())
}

// ---- in-memory duplex -----------------------------------------------------------------------

/// One end of an in-memory connection made by [`duplex_pair`]. Frames arrive whole and in
/// order. Sending waits while the peer's queue is full (`capacity` frames).
///
/// [`close`](DuplexTransport::close) stops this end sending: the peer's `recv` drains what was
/// already sent, then returns `Ok(None)`. Dropping an end closes both directions.
#[derive(Debug)]
pub struct DuplexTransport {
    /// `None` once closed. A std mutex, held only to clone or take the sender, never across an
    /// await.
    tx: std::sync::Mutex<Option<mpsc::Sender<Vec<u8>>>>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Vec<u8>>>,
    frame_size_max: usize,
}

/// Two connected in-memory transports, each direction buffering up to `capacity` frames.
/// Frames are limited to [`FRAME_SIZE_MAX_DEFAULT`].
///
/// # Panics
/// If `capacity` is zero.
pub fn duplex_pair(capacity: usize) -> (DuplexTransport, DuplexTransport) {
    duplex_pair_with_frame_size_max(capacity, FRAME_SIZE_MAX_DEFAULT)
}

/// Like [`duplex_pair`], refusing to send frames larger than `frame_size_max`.
///
/// # Panics
/// If `capacity` is zero.
pub fn duplex_pair_with_frame_size_max(
    capacity: usize,
    frame_size_max: usize,
) -> (DuplexTransport, DuplexTransport) {
    assert!(capacity > 0, "a duplex channel needs room for one frame");
    let (a_tx, b_rx) = mpsc::channel(capacity);
    let (b_tx, a_rx) = mpsc::channel(capacity);
    let end = |tx, rx| DuplexTransport {
        tx: std::sync::Mutex::new(Some(tx)),
        rx: tokio::sync::Mutex::new(rx),
        frame_size_max,
    };
    (end(a_tx, a_rx), end(b_tx, b_rx))
}

impl DuplexTransport {
    /// Stops sending: later sends fail with [`Error::Closed`]; the peer's `recv` returns
    /// `Ok(None)` after the frames already queued. Receiving continues until the peer closes.
    pub fn close(&self) {
        self.sender_slot().take();
    }

    /// The largest frame this end sends.
    pub fn frame_size_max(&self) -> usize {
        self.frame_size_max
    }

    fn sender_slot(&self) -> std::sync::MutexGuard<'_, Option<mpsc::Sender<Vec<u8>>>> {
        // The slot holds no invariant a panic could break: recover from poisoning.
        self.tx
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[async_trait::async_trait]
impl Transport for DuplexTransport {
    async fn send(&self, frame: &[u8]) -> Result<(), Error> {
        check_frame_size(frame.len(), self.frame_size_max)?;
        let Some(tx) = self.sender_slot().clone() else {
            return Err(Error::Closed);
        };
        tx.send(frame.to_vec()).await.map_err(|_| Error::Closed)
    }

    async fn recv(&self) -> Result<Option<Vec<u8>>, Error> {
        Ok(self.rx.lock().await.recv().await)
    }
}

// ---- TCP ------------------------------------------------------------------------------------

// Real tokio splits a stream into owned halves without a lock; madsim's simulated stream has no
// `into_split`, so it goes through the generic `tokio::io::split`.
#[cfg(not(madsim))]
type ReadHalf = tokio::net::tcp::OwnedReadHalf;
#[cfg(not(madsim))]
type WriteHalf = tokio::net::tcp::OwnedWriteHalf;
#[cfg(madsim)]
type ReadHalf = tokio::io::ReadHalf<TcpStream>;
#[cfg(madsim)]
type WriteHalf = tokio::io::WriteHalf<TcpStream>;

#[cfg(not(madsim))]
fn split(stream: TcpStream) -> (ReadHalf, WriteHalf) {
    stream.into_split()
}

#[cfg(madsim)]
fn split(stream: TcpStream) -> (ReadHalf, WriteHalf) {
    tokio::io::split(stream)
}

/// Frames over TCP: each frame is a `u32` little-endian length, then that many bytes.
///
/// The read and write halves sit behind separate async mutexes, so a task waiting in `recv`
/// never holds up `send`. Each frame leaves in one write (prefix and body together).
///
/// Both directions are cancel-safe: a `recv` dropped mid-frame keeps the bytes read so far for
/// the next `recv`, and a `send` dropped mid-write has its frame finished by the next `send`, so
/// the stream never carries a partial frame followed by another.
#[derive(Debug)]
pub struct TcpTransport {
    reader: tokio::sync::Mutex<FrameReader>,
    writer: tokio::sync::Mutex<FrameWriter>,
    frame_size_max: usize,
    local_addr: SocketAddr,
    peer_addr: SocketAddr,
}

impl TcpTransport {
    /// Connects to `addr` and frames the stream, with [`FRAME_SIZE_MAX_DEFAULT`].
    pub async fn connect(addr: impl tokio::net::ToSocketAddrs) -> Result<TcpTransport, Error> {
        let stream = TcpStream::connect(addr).await?;
        TcpTransport::from_stream(stream)
    }

    /// Frames an established stream, for example one returned by `TcpListener::accept`, with
    /// [`FRAME_SIZE_MAX_DEFAULT`]. Turns off Nagle's algorithm: frames are written whole.
    pub fn from_stream(stream: TcpStream) -> Result<TcpTransport, Error> {
        stream.set_nodelay(true)?;
        let local_addr = stream.local_addr()?;
        let peer_addr = stream.peer_addr()?;
        let (read_half, write_half) = split(stream);
        Ok(TcpTransport {
            reader: tokio::sync::Mutex::new(FrameReader::new(read_half)),
            writer: tokio::sync::Mutex::new(FrameWriter::new(write_half)),
            frame_size_max: FRAME_SIZE_MAX_DEFAULT,
            local_addr,
            peer_addr,
        })
    }

    /// The same transport with another frame size limit, for both directions.
    ///
    /// # Panics
    /// If `frame_size_max` does not fit the `u32` length prefix.
    pub fn with_frame_size_max(self, frame_size_max: usize) -> TcpTransport {
        assert!(
            frame_size_max <= u32::MAX as usize,
            "frame_size_max must fit the u32 length prefix"
        );
        TcpTransport {
            frame_size_max,
            ..self
        }
    }

    /// The largest frame sent or accepted.
    pub fn frame_size_max(&self) -> usize {
        self.frame_size_max
    }

    /// This end's address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> SocketAddr {
        self.peer_addr
    }

    /// Shuts the write direction down: the peer's `recv` returns `Ok(None)` after the frames
    /// already sent. (Simulated streams under madsim do not model shutdown; drop the transport
    /// there instead.)
    pub async fn shutdown(&self) -> Result<(), Error> {
        self.writer.lock().await.shutdown().await
    }
}

#[async_trait::async_trait]
impl Transport for TcpTransport {
    async fn send(&self, frame: &[u8]) -> Result<(), Error> {
        check_frame_size(frame.len(), self.frame_size_max)?;
        self.writer.lock().await.send(frame).await
    }

    async fn recv(&self) -> Result<Option<Vec<u8>>, Error> {
        self.reader.lock().await.recv(self.frame_size_max).await
    }
}

/// The read side of a TCP transport: bytes received but not yet handed out as frames.
#[derive(Debug)]
struct FrameReader<R = ReadHalf> {
    half: R,
    /// Received bytes; the unread ones are `buf[start..]`.
    buf: Vec<u8>,
    start: usize,
    state: ReadState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadState {
    Open,
    /// The peer closed the stream between frames.
    Ended,
    /// An oversized or truncated frame or an i/o error: the stream cannot be resynchronized.
    Failed,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    fn new(half: R) -> FrameReader<R> {
        FrameReader {
            half,
            buf: Vec::new(),
            start: 0,
            state: ReadState::Open,
        }
    }

    async fn recv(&mut self, frame_size_max: usize) -> Result<Option<Vec<u8>>, Error> {
        match self.state {
            ReadState::Open => {}
            ReadState::Ended => return Ok(None),
            ReadState::Failed => return Err(Error::Closed),
        }
        let result = self.recv_open(frame_size_max).await;
        match &result {
            Ok(Some(_)) => {}
            Ok(None) => self.state = ReadState::Ended,
            Err(_) => self.state = ReadState::Failed,
        }
        result
    }

    async fn recv_open(&mut self, frame_size_max: usize) -> Result<Option<Vec<u8>>, Error> {
        loop {
            let wanted = match self.frame_wanted(frame_size_max)? {
                Wanted::Frame(body_size) => return Ok(Some(self.take_frame(body_size))),
                Wanted::More(bytes) => bytes,
            };
            self.compact();
            // Exact: `reserve` would double the capacity on top of the doubling `read_room`
            // already asks for.
            self.buf.reserve_exact(read_room(wanted, self.buf.len()));
            // `read_buf` is cancel-safe: bytes land in `buf` only when the read completes.
            let received = self.half.read_buf(&mut self.buf).await?;
            if received == 0 {
                return self.end_of_stream();
            }
        }
    }

    /// Whether a whole frame is buffered, or how many more bytes it takes to complete the
    /// current one. Refuses an oversized length before any room is made for it.
    fn frame_wanted(&self, frame_size_max: usize) -> Result<Wanted, Error> {
        let unread = &self.buf[self.start..];
        let Some(header) = unread.first_chunk::<FRAME_HEADER_SIZE>() else {
            return Ok(Wanted::More(FRAME_HEADER_SIZE - unread.len()));
        };
        let body_size = u32::from_le_bytes(*header) as usize;
        check_frame_size(body_size, frame_size_max)?;
        let frame_size = FRAME_HEADER_SIZE + body_size;
        if unread.len() < frame_size {
            return Ok(Wanted::More(frame_size - unread.len()));
        }
        Ok(Wanted::Frame(body_size))
    }

    fn take_frame(&mut self, body_size: usize) -> Vec<u8> {
        let body_start = self.start + FRAME_HEADER_SIZE;
        let body_end = body_start + body_size;
        let frame = self.buf[body_start..body_end].to_vec();
        self.start = body_end;
        if self.start == self.buf.len() {
            self.start = 0;
            self.buf.clear();
            if self.buf.capacity() > BUFFER_RETAIN_MAX {
                self.buf = Vec::new();
            }
        }
        frame
    }

    /// Moves the unread bytes to the front, so the buffer grows only by what a frame needs.
    fn compact(&mut self) {
        if self.start == 0 {
            return;
        }
        self.buf.drain(..self.start);
        self.start = 0;
    }

    fn end_of_stream(&self) -> Result<Option<Vec<u8>>, Error> {
        let unread = &self.buf[self.start..];
        if unread.is_empty() {
            return Ok(None);
        }
        let Some(header) = unread.first_chunk::<FRAME_HEADER_SIZE>() else {
            return Err(Error::Truncated {
                expected: FRAME_HEADER_SIZE,
                received: unread.len(),
            });
        };
        let body_size = u32::from_le_bytes(*header) as usize;
        Err(Error::Truncated {
            expected: FRAME_HEADER_SIZE + body_size,
            received: unread.len(),
        })
    }
}

/// How much room to make before the next read, when `wanted` more bytes complete the frame and
/// `buffered` are already here: a chunk, or for a large frame as much again as has arrived, so
/// that the buffer doubles as the bytes come in. The length prefix alone never reserves more
/// than a chunk: a peer that announces `frame_size_max` and sends nothing more costs 64 KiB,
/// not 16 MiB.
fn read_room(wanted: usize, buffered: usize) -> usize {
    READ_CHUNK_SIZE.max(wanted.min(buffered))
}

enum Wanted {
    /// A whole frame with a body of this many bytes is buffered.
    Frame(usize),
    /// This many more bytes complete the current frame (or its length prefix).
    More(usize),
}

/// The write side of a TCP transport.
#[derive(Debug)]
struct FrameWriter {
    half: WriteHalf,
    /// The frame being written, prefix included; `buf[written..]` has not reached the socket.
    buf: Vec<u8>,
    written: usize,
    /// Bytes written since the last flush.
    unflushed: bool,
    failed: bool,
}

impl FrameWriter {
    fn new(half: WriteHalf) -> FrameWriter {
        FrameWriter {
            half,
            buf: Vec::new(),
            written: 0,
            unflushed: false,
            failed: false,
        }
    }

    async fn send(&mut self, frame: &[u8]) -> Result<(), Error> {
        if self.failed {
            return Err(Error::Closed);
        }
        // A send cancelled mid-write left the rest of its frame here: finish it first.
        self.write_pending().await?;
        self.buf.clear();
        self.written = 0;
        if self.buf.capacity() > BUFFER_RETAIN_MAX {
            self.buf = Vec::new();
        }
        let size = u32::try_from(frame.len()).map_err(|_| Error::FrameTooLarge {
            size: frame.len() as u64,
            max: u32::MAX as usize,
        })?;
        self.buf.reserve(FRAME_HEADER_SIZE + frame.len());
        self.buf.extend_from_slice(&size.to_le_bytes());
        self.buf.extend_from_slice(frame);
        self.write_pending().await
    }

    async fn write_pending(&mut self) -> Result<(), Error> {
        let result = self.write_pending_inner().await;
        if let Err(e) = result {
            self.failed = true;
            return Err(closed_or_io(e));
        }
        Ok(())
    }

    async fn write_pending_inner(&mut self) -> std::io::Result<()> {
        while self.written < self.buf.len() {
            let n = self.half.write(&self.buf[self.written..]).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::WriteZero.into());
            }
            self.written += n;
            self.unflushed = true;
        }
        if !self.unflushed {
            return Ok(());
        }
        // A no-op for a real socket; the simulated one sends its buffered bytes here.
        self.half.flush().await?;
        self.unflushed = false;
        Ok(())
    }

    async fn shutdown(&mut self) -> Result<(), Error> {
        self.write_pending().await?;
        self.failed = true;
        self.half.shutdown().await.map_err(closed_or_io)
    }
}

/// A write that failed because the peer is gone is [`Error::Closed`]; anything else is i/o.
fn closed_or_io(e: std::io::Error) -> Error {
    match e.kind() {
        std::io::ErrorKind::BrokenPipe
        | std::io::ErrorKind::ConnectionReset
        | std::io::ErrorKind::ConnectionAborted
        | std::io::ErrorKind::NotConnected => Error::Closed,
        _ => Error::Io(e),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::pin::Pin;
    use std::sync::{Arc, Mutex};
    use std::task::{Context, Poll};

    use futures_util::FutureExt;
    use tokio::io::ReadBuf;

    use super::*;

    /// A stream that hands out the chunks queued so far, then waits (without ever waking
    /// anyone: the tests poll by hand).
    #[derive(Debug, Clone, Default)]
    struct Trickle(Arc<Mutex<VecDeque<Vec<u8>>>>);

    impl Trickle {
        fn push(&self, chunk: &[u8]) {
            self.0.lock().unwrap().push_back(chunk.to_vec());
        }
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            let mut chunks = self.0.lock().unwrap();
            let Some(mut chunk) = chunks.pop_front() else {
                return Poll::Pending;
            };
            let n = chunk.len().min(buf.remaining());
            buf.put_slice(&chunk[..n]);
            if n < chunk.len() {
                chunks.push_front(chunk.split_off(n));
            }
            Poll::Ready(Ok(()))
        }
    }

    /// Polls `recv` once: the frame, if the bytes queued so far complete one.
    fn poll_recv(reader: &mut FrameReader<Trickle>) -> Option<Vec<u8>> {
        let polled = reader.recv(FRAME_SIZE_MAX_DEFAULT).now_or_never()?;
        Some(
            polled
                .expect("no error")
                .expect("not the end of the stream"),
        )
    }

    fn header(body_size: usize) -> [u8; FRAME_HEADER_SIZE] {
        u32::try_from(body_size).unwrap().to_le_bytes()
    }

    #[test]
    fn a_length_prefix_alone_reserves_a_chunk_not_the_frame() {
        let stream = Trickle::default();
        let mut reader = FrameReader::new(stream.clone());
        stream.push(&header(FRAME_SIZE_MAX_DEFAULT));
        stream.push(b"a few bytes of the body");
        assert_eq!(poll_recv(&mut reader), None);
        let capacity = reader.buf.capacity();
        assert!(capacity <= READ_CHUNK_SIZE * 2, "{capacity} bytes reserved");
    }

    #[test]
    fn the_buffer_grows_with_the_bytes_that_arrive() {
        let stream = Trickle::default();
        let mut reader = FrameReader::new(stream.clone());
        let body: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        stream.push(&header(body.len()));
        let mut received = 0;
        for chunk in body.chunks(48 * 1024) {
            assert_eq!(poll_recv(&mut reader), None);
            let (buffered, capacity) = (reader.buf.len(), reader.buf.capacity());
            assert!(
                capacity <= 2 * buffered + 2 * READ_CHUNK_SIZE,
                "{capacity} bytes reserved for {buffered} received"
            );
            stream.push(chunk);
            received += chunk.len();
        }
        assert_eq!(received, body.len());
        assert_eq!(poll_recv(&mut reader), Some(body));
    }
}
