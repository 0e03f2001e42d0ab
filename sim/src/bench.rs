//! The floor a scenario's speed is measured against: a raw madsim echo between nodes, with no
//! wasm and no neorpc, only madsim's executor, clock and network.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use madsim::net::Endpoint;

/// The echo server's address on the simulated network.
const SERVER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 7000);

/// The message tag of every request and reply.
const TAG: u64 = 1;

/// The size of a request (and of its echo): about a `calc.add` call frame.
const MESSAGE_BYTES: usize = 64;

/// Runs one seed of the echo: `clients` client nodes each make `exchanges` request/reply round
/// trips, one at a time, with one server node. Returns the round trips completed.
pub fn echo(seed: u64, clients: u8, exchanges: u32) -> u64 {
    let rt = madsim::runtime::Runtime::with_seed_and_config(seed, madsim::Config::default());
    rt.block_on(async move {
        let handle = madsim::runtime::Handle::current();
        let server = handle.create_node().name("server").ip(SERVER.ip()).build();
        server.spawn(serve());
        // Let the server bind before anyone sends.
        madsim::time::sleep(std::time::Duration::from_millis(1)).await;
        let mut tasks = Vec::new();
        for client in 0..clients {
            let ip = IpAddr::V4(Ipv4Addr::new(10, 0, 1, client.saturating_add(1)));
            let node = handle.create_node().ip(ip).build();
            tasks.push(node.spawn(exchange(exchanges)));
        }
        let mut done = 0;
        for task in tasks {
            done += task.await.unwrap_or(0);
        }
        done
    })
}

async fn serve() {
    let Ok(endpoint) = Endpoint::bind(SERVER).await else {
        return;
    };
    let mut buf = [0u8; MESSAGE_BYTES];
    loop {
        let Ok((len, from)) = endpoint.recv_from(TAG, &mut buf).await else {
            return;
        };
        let Some(message) = buf.get(..len) else {
            return;
        };
        if endpoint.send_to(from, TAG, message).await.is_err() {
            return;
        }
    }
}

async fn exchange(exchanges: u32) -> u64 {
    let Ok(endpoint) = Endpoint::bind("0.0.0.0:0").await else {
        return 0;
    };
    let request = [7u8; MESSAGE_BYTES];
    let mut reply = [0u8; MESSAGE_BYTES];
    let mut done = 0;
    for _ in 0..exchanges {
        if endpoint.send_to(SERVER, TAG, &request).await.is_err() {
            break;
        }
        if endpoint.recv_from(TAG, &mut reply).await.is_err() {
            break;
        }
        done += 1;
    }
    done
}
