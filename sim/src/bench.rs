//! The floor a scenario's speed is measured against: a raw madsim echo between nodes, with no
//! wasm and no neorpc, only madsim's executor, clock and network.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use madsim::net::Endpoint;

use crate::scenario::{Faults, Op, Scenario};

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

/// The cheapest workload on `scenario`'s nodes: every workload call made a direct
/// `calc.add` on the first exposed `calc-server` (one exchange, one wasm entry, on the far side
/// only) and no faults. Same nodes, same instants, same number of calls. `None` if no node
/// exposes a `calc-server`.
pub fn direct_only(scenario: &Scenario) -> Option<Scenario> {
    let (node, target) = scenario.nodes.iter().find_map(|node| {
        let server = node.instances.iter().find(|i| i.app == "calc-server")?;
        Some((node.name.clone(), server.expose.clone()?))
    })?;
    let mut direct = scenario.clone();
    direct.faults = Faults::default();
    for (index, call) in direct.calls.iter_mut().enumerate() {
        // Every sum differs, as in generated workloads: a misrouted reply would show.
        let a = i32::try_from(index).unwrap_or(i32::MAX);
        call.op = Op::DirectAdd {
            node: node.clone(),
            target: target.clone(),
            a,
            b: 1_000_000,
        };
    }
    Some(direct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario;

    #[test]
    fn direct_only_keeps_the_calls_and_makes_each_a_direct_add_without_faults() {
        let generated = scenario::generate(1000);
        assert!(
            generated.faults != Faults::default(),
            "seed 1000 has faults"
        );
        let direct = direct_only(&generated).expect("the default topology has a calc-server");
        assert_eq!(direct.faults, Faults::default());
        assert_eq!(direct.nodes, generated.nodes);
        assert_eq!(direct.calls.len(), generated.calls.len());
        for (index, (call, original)) in direct.calls.iter().zip(&generated.calls).enumerate() {
            assert_eq!((call.at_ms, &call.node), (original.at_ms, &original.node));
            let expected = Op::DirectAdd {
                node: "back".into(),
                target: "calc".into(),
                a: i32::try_from(index).unwrap_or(i32::MAX),
                b: 1_000_000,
            };
            assert_eq!(call.op, expected);
        }
        assert!(direct.validate().is_ok(), "{:?}", direct.validate());
    }

    #[test]
    fn direct_only_needs_a_calc_server() {
        let mut scenario = scenario::generate(1);
        for node in &mut scenario.nodes {
            node.instances.retain(|i| i.app != "calc-server");
        }
        assert!(direct_only(&scenario).is_none());
    }
}
