//! Transports: whole frames, in order, both directions; end of stream; size limits; truncation.

use std::time::Duration;

use exorun::transport::{
    self, DuplexTransport, FRAME_SIZE_MAX_DEFAULT, TcpTransport, Transport, duplex_pair,
    duplex_pair_with_frame_size_max,
};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};

/// Frames of assorted sizes, including empty and larger than one socket read.
fn sample_frames() -> Vec<Vec<u8>> {
    let large: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    vec![
        b"first".to_vec(),
        Vec::new(),
        vec![0xFF; 1],
        large,
        b"last".to_vec(),
    ]
}

async fn send_all(transport: &dyn Transport, frames: &[Vec<u8>]) {
    for frame in frames {
        transport.send(frame).await.expect("send");
    }
}

async fn recv_all(transport: &dyn Transport, count: usize) -> Vec<Vec<u8>> {
    let mut frames = Vec::with_capacity(count);
    for _ in 0..count {
        let frame = transport
            .recv()
            .await
            .expect("recv")
            .expect("a frame, not end of stream");
        frames.push(frame);
    }
    frames
}

async fn assert_end_of_stream(transport: &dyn Transport) {
    let end = transport.recv().await.expect("recv at end of stream");
    assert_eq!(end, None);
}

// ---- duplex ---------------------------------------------------------------------------------

#[tokio::test]
async fn duplex_frames_arrive_whole_and_in_order_both_ways() {
    let (a, b) = duplex_pair(2);
    let frames = sample_frames();
    // Capacity 2 < 5 frames: sending must interleave with receiving.
    let (_, received_by_b) = tokio::join!(send_all(&a, &frames), recv_all(&b, frames.len()));
    assert_eq!(received_by_b, frames);
    let (_, received_by_a) = tokio::join!(send_all(&b, &frames), recv_all(&a, frames.len()));
    assert_eq!(received_by_a, frames);
}

#[tokio::test]
async fn duplex_close_drains_then_ends_the_peer_stream() {
    let (a, b) = duplex_pair(8);
    a.send(b"queued").await.unwrap();
    a.close();
    assert!(matches!(
        a.send(b"late").await,
        Err(transport::Error::Closed)
    ));
    assert_eq!(b.recv().await.unwrap(), Some(b"queued".to_vec()));
    assert_end_of_stream(&b).await;
    assert_end_of_stream(&b).await;
    // Closing is one direction only: b can still reach a.
    b.send(b"reply").await.unwrap();
    assert_eq!(a.recv().await.unwrap(), Some(b"reply".to_vec()));
}

#[tokio::test]
async fn duplex_drop_ends_the_peer_stream_both_ways() {
    let (a, b) = duplex_pair(8);
    a.send(b"before drop").await.unwrap();
    drop(a);
    assert_eq!(b.recv().await.unwrap(), Some(b"before drop".to_vec()));
    assert_end_of_stream(&b).await;
    assert!(matches!(
        b.send(b"nobody").await,
        Err(transport::Error::Closed)
    ));
}

#[tokio::test]
async fn duplex_refuses_a_frame_over_its_limit() {
    let (a, b) = duplex_pair_with_frame_size_max(4, 8);
    assert_eq!(a.frame_size_max(), 8);
    let refused = a.send(&[0; 9]).await;
    let Err(transport::Error::FrameTooLarge { size, max }) = refused else {
        panic!("expected FrameTooLarge, got {refused:?}");
    };
    assert_eq!((size, max), (9, 8));
    a.send(&[7; 8]).await.unwrap();
    assert_eq!(b.recv().await.unwrap(), Some(vec![7; 8]));
}

#[test]
fn duplex_default_limit_is_the_named_constant() {
    let (a, _b) = duplex_pair(1);
    assert_eq!(a.frame_size_max(), FRAME_SIZE_MAX_DEFAULT);
}

/// `DuplexTransport` is usable as `Arc<dyn Transport>`.
#[test]
fn duplex_is_a_transport_object() {
    fn takes(_: std::sync::Arc<dyn Transport>) {}
    let (a, _b): (DuplexTransport, DuplexTransport) = duplex_pair(1);
    takes(std::sync::Arc::new(a));
}

// ---- TCP ------------------------------------------------------------------------------------

/// A listener on loopback, a transport connected to it, and the accepted raw stream.
async fn tcp_raw_peer() -> (TcpTransport, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (connected, accepted) = tokio::join!(TcpTransport::connect(addr), listener.accept());
    (connected.unwrap(), accepted.unwrap().0)
}

/// Two transports connected over loopback.
async fn tcp_pair() -> (TcpTransport, TcpTransport) {
    let (transport, raw) = tcp_raw_peer().await;
    (transport, TcpTransport::from_stream(raw).unwrap())
}

#[tokio::test]
async fn tcp_frames_round_trip_both_ways() {
    let (a, b) = tcp_pair().await;
    assert_eq!(a.local_addr(), b.peer_addr());
    assert_eq!(a.peer_addr(), b.local_addr());
    let frames = sample_frames();
    let (_, received_by_b) = tokio::join!(send_all(&a, &frames), recv_all(&b, frames.len()));
    assert_eq!(received_by_b, frames);
    let (_, received_by_a) = tokio::join!(send_all(&b, &frames), recv_all(&a, frames.len()));
    assert_eq!(received_by_a, frames);
}

#[tokio::test]
async fn tcp_clean_eof_between_frames_is_end_of_stream() {
    let (a, b) = tcp_pair().await;
    a.send(b"only").await.unwrap();
    drop(a);
    assert_eq!(b.recv().await.unwrap(), Some(b"only".to_vec()));
    assert_end_of_stream(&b).await;
    assert_end_of_stream(&b).await;
}

// Not under madsim: its simulated stream does not model shutdown.
#[cfg(not(madsim))]
#[tokio::test]
async fn tcp_shutdown_ends_the_peer_stream_and_further_sends() {
    let (a, b) = tcp_pair().await;
    a.send(b"last words").await.unwrap();
    a.shutdown().await.unwrap();
    assert_eq!(b.recv().await.unwrap(), Some(b"last words".to_vec()));
    assert_end_of_stream(&b).await;
    assert!(matches!(
        a.send(b"after").await,
        Err(transport::Error::Closed)
    ));
    // The other direction still works.
    b.send(b"reply").await.unwrap();
    assert_eq!(a.recv().await.unwrap(), Some(b"reply".to_vec()));
}

#[tokio::test]
async fn tcp_wire_form_is_u32_le_length_then_bytes() {
    let (transport, mut raw) = tcp_raw_peer().await;
    raw.write_all(&[3, 0, 0, 0, b'a', b'b', b'c', 0, 0, 0, 0])
        .await
        .unwrap();
    raw.flush().await.unwrap();
    assert_eq!(transport.recv().await.unwrap(), Some(b"abc".to_vec()));
    assert_eq!(transport.recv().await.unwrap(), Some(Vec::new()));
}

/// The peer announces a frame over the limit and sends nothing after it: the transport answers
/// at once, from the length alone, without waiting for (or making room for) the body.
#[tokio::test]
async fn tcp_announced_oversized_frame_is_refused_before_allocation() {
    check_announced_oversized(1024, 1025).await;
    check_announced_oversized(FRAME_SIZE_MAX_DEFAULT, u32::MAX).await;
}

async fn check_announced_oversized(frame_size_max: usize, announced: u32) {
    let (transport, mut raw) = tcp_raw_peer().await;
    let transport = transport.with_frame_size_max(frame_size_max);
    raw.write_all(&announced.to_le_bytes()).await.unwrap();
    raw.flush().await.unwrap();
    let refused = transport.recv().await;
    let Err(transport::Error::FrameTooLarge { size, max }) = refused else {
        panic!("expected FrameTooLarge, got {refused:?}");
    };
    assert_eq!((size, max), (u64::from(announced), frame_size_max));
    // The stream cannot be resynchronized: it stays failed.
    assert!(matches!(
        transport.recv().await,
        Err(transport::Error::Closed)
    ));
    drop(raw);
}

#[tokio::test]
async fn tcp_eof_inside_a_frame_is_truncated() {
    // Body cut short: 100 announced, 10 sent.
    let mut cut_body = 100u32.to_le_bytes().to_vec();
    cut_body.extend_from_slice(&[1; 10]);
    check_truncated(&cut_body, 104, 14).await;
    // Length prefix cut short.
    check_truncated(&[9, 0], 4, 2).await;
    // A whole frame, then a cut one.
    let mut whole_then_cut = vec![1, 0, 0, 0, 42];
    whole_then_cut.extend_from_slice(&[5, 0, 0, 0, 1, 2]);
    check_truncated(&whole_then_cut, 9, 6).await;
}

async fn check_truncated(wire: &[u8], expected_size: usize, received_size: usize) {
    let (transport, mut raw) = tcp_raw_peer().await;
    raw.write_all(wire).await.unwrap();
    raw.flush().await.unwrap();
    drop(raw);
    let mut result = transport.recv().await;
    if let Ok(Some(frame)) = &result {
        assert_eq!(frame, &[42]);
        result = transport.recv().await;
    }
    let Err(transport::Error::Truncated { expected, received }) = result else {
        panic!("expected Truncated for {wire:?}, got {result:?}");
    };
    assert_eq!((expected, received), (expected_size, received_size));
}

#[tokio::test]
async fn tcp_refuses_to_send_a_frame_over_its_limit() {
    let (a, b) = tcp_pair().await;
    let a = a.with_frame_size_max(16);
    assert_eq!(a.frame_size_max(), 16);
    let refused = a.send(&[0; 17]).await;
    let Err(transport::Error::FrameTooLarge { size, max }) = refused else {
        panic!("expected FrameTooLarge, got {refused:?}");
    };
    assert_eq!((size, max), (17, 16));
    // Nothing of the refused frame reached the wire.
    a.send(&[3; 16]).await.unwrap();
    assert_eq!(b.recv().await.unwrap(), Some(vec![3; 16]));
}

/// A `recv` dropped while half a frame has arrived loses nothing: the next `recv` completes it.
#[tokio::test]
async fn tcp_recv_is_cancel_safe() {
    let (transport, mut raw) = tcp_raw_peer().await;
    raw.write_all(&[6, 0, 0, 0, b'h', b'a']).await.unwrap();
    raw.flush().await.unwrap();
    let gave_up = tokio::time::timeout(Duration::from_millis(20), transport.recv()).await;
    assert!(gave_up.is_err(), "half a frame must not complete a recv");
    raw.write_all(b"lves").await.unwrap();
    raw.flush().await.unwrap();
    assert_eq!(transport.recv().await.unwrap(), Some(b"halves".to_vec()));
}

/// `send` and `recv` use separate halves: a task parked in `recv` does not hold up `send`.
#[tokio::test]
async fn tcp_send_is_not_blocked_by_a_waiting_recv() {
    let (a, b) = tcp_pair().await;
    let a = std::sync::Arc::new(a);
    let receiver = tokio::spawn({
        let a = a.clone();
        async move { a.recv().await.unwrap() }
    });
    tokio::task::yield_now().await;
    a.send(b"ping").await.unwrap();
    assert_eq!(b.recv().await.unwrap(), Some(b"ping".to_vec()));
    b.send(b"pong").await.unwrap();
    assert_eq!(receiver.await.unwrap(), Some(b"pong".to_vec()));
}

// Not under madsim: its simulated connect binds its own port first and may pick the one the
// dropped listener had, connecting to itself.
#[cfg(not(madsim))]
#[tokio::test]
async fn tcp_connect_to_nothing_is_an_io_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let refused = TcpTransport::connect(addr).await;
    assert!(
        matches!(refused, Err(transport::Error::Io(_))),
        "{refused:?}"
    );
}
