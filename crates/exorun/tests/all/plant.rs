//! Planted bugs (madsim builds only): each plant changes what the runtime does in the way its
//! documentation says, and with no plant set the same scenario behaves normally.

use std::sync::Arc;
use std::time::Duration;

use exorun::builder::InstanceBuilder;
use exorun::client::{self, Client};
use exorun::plant::{self, Plant};
use exorun::server;
use exorun::session::Session;
use exorun::system::KvSystem;
use exorun::transport::{Transport, duplex_pair};
use neorpc::codec;
use neorpc::frame::{self, CallEncoder, Frame};
use neorpc::schema::{InterfaceSchema, Type};
use wasmtime::component::Val;

use crate::session::{add, calc_node, config};
use crate::support::{self, Deployment, TestPeer, apps};

/// Sets a plant for the rest of the scope; removes it on the way out, even on failure.
struct Planted;

impl Planted {
    fn set(plant: Option<Plant>) -> Planted {
        plant::set(plant);
        Planted
    }
}

impl Drop for Planted {
    fn drop(&mut self) {
        plant::set(None);
    }
}

fn payload_u64(n: u64) -> Vec<u8> {
    codec::encode_results(&[Val::U64(n)], &[Type::U64]).unwrap()
}

fn decode_u64(payload: &[u8]) -> u64 {
    let vals = codec::decode_results(payload, &[Type::U64]).unwrap();
    let [Val::U64(n)] = vals[..] else {
        panic!("expected one u64, got {vals:?}");
    };
    n
}

#[tokio::test]
async fn forget_pending_leaves_a_timed_out_call_behind() {
    for (plant, left_behind) in [(Some(Plant::ForgetPending), 1), (None, 0)] {
        let _planted = Planted::set(plant);
        let (near, _far) = duplex_pair(64);
        let config = client::Config {
            timeout: Duration::from_millis(100),
            ..client::Config::default()
        };
        let client = Client::with_config(Arc::new(near), config);
        let outcome = client.call_raw("t", "slow", &payload_u64(1)).await;
        assert!(
            matches!(outcome, Err(client::Error::Timeout)),
            "{outcome:?}"
        );
        assert_eq!(client.pending_len(), left_behind, "{plant:?}");
    }
}

#[tokio::test]
async fn double_execute_runs_a_duplicated_call_again() -> anyhow::Result<()> {
    for (plant, runs) in [(Some(Plant::DoubleExecute), 2), (None, 1)] {
        let _planted = Planted::set(plant);
        let runtime = support::runtime()?;
        let kv = KvSystem::new();
        let app = support::register(&runtime, "kv-user")?;
        let builder = InstanceBuilder::new(&runtime, app).system(kv.clone());
        let handle = builder.instantiate().await?;
        let server = support::exposing("kv", &handle, "kv-ops")?;
        let (near, serving) = support::serve_duplex(&server);
        near.recv().await?.expect("a Hello");
        let method = server::method_name(&apps("kv-ops"), "bump");
        let args = codec::encode_args(&[support::string("n")], &[Type::String])?;
        let call = CallEncoder::new(1, "kv", &method, &args).to_bytes()?;
        for _ in 0..2 {
            near.send(&call).await?;
            near.recv().await?.expect("an outcome");
        }
        assert_eq!(
            kv.get("n").as_deref(),
            Some(runs.to_string().as_str()),
            "{plant:?}"
        );
        near.close();
        support::ended(serving).await?;
    }
    Ok(())
}

/// Two calls, each carrying its caller's number; the peer answers each with that number times
/// ten, the later call first. Misrouted, the earlier call gets the later one's answer, and then
/// the later the earlier's.
#[tokio::test]
async fn misroute_reply_hands_an_answer_to_another_call() -> anyhow::Result<()> {
    for (plant, swapped) in [(Some(Plant::MisrouteReply), true), (None, false)] {
        let _planted = Planted::set(plant);
        let (near, far) = duplex_pair(64);
        let client = Arc::new(support::client(Arc::new(near)));
        let callers: Vec<_> = [1, 2]
            .into_iter()
            .map(|n| {
                let client = Arc::clone(&client);
                tokio::spawn(async move { client.call_raw("t", "m", &payload_u64(n)).await })
            })
            .collect();
        let mut calls = Vec::new();
        while calls.len() < 2 {
            let bytes = far.recv().await?.expect("a Call");
            let Frame::Call { seq, args, .. } = frame::decode(&bytes)? else {
                anyhow::bail!("expected a Call");
            };
            calls.push((seq, decode_u64(args)));
        }
        calls.sort_unstable();
        for (seq, n) in calls.iter().rev() {
            let mut enc = neopack::Encoder::new();
            frame::encode_reply(&mut enc, *seq, &payload_u64(n * 10))?;
            far.send(&enc.into_bytes()?).await?;
        }
        let mut got = Vec::new();
        for caller in callers {
            got.push(decode_u64(&caller.await??));
        }
        let expected = match swapped {
            true => [20, 10],
            false => [10, 20],
        };
        assert_eq!(got, expected, "{plant:?}");
        assert_eq!(client.pending_len(), 0);
    }
    Ok(())
}

/// The peer comes back running calc-skew. Planted, the session skips the contract check and
/// the call reaches the incompatible peer; else it fails with the contract error, unsent.
#[tokio::test]
async fn skip_contract_check_sends_to_an_incompatible_peer() -> anyhow::Result<()> {
    for plant in [Some(Plant::SkipContractCheck), None] {
        let _planted = Planted::set(plant);
        let node_a = calc_node("calc-server").await?;
        let peer = TestPeer::serving(&node_a.server);
        let session = Session::connect(peer.clone(), config(3)).await?;
        session.require("calc", &calc_schema()?)?;
        peer.crash();
        support::disconnected(&session.client()).await?;
        let skewed = calc_node("calc-skew").await?;
        peer.deploy(Deployment::Serving(Arc::clone(&skewed.server), None));
        let outcome = add(&session, 2, 40).await;
        match plant {
            Some(_) => {
                assert!(
                    matches!(outcome, Err(client::Error::Failed(_))),
                    "{outcome:?}"
                );
                assert_eq!(peer.calls_received(), [0, 1]);
            }
            None => {
                assert!(
                    matches!(outcome, Err(client::Error::Contract(_))),
                    "{outcome:?}"
                );
                assert_eq!(peer.calls_received(), [0, 0]);
            }
        }
        assert_eq!(session.generation(), 2);
    }
    Ok(())
}

/// What calc-client requires of `calc`.
fn calc_schema() -> anyhow::Result<InterfaceSchema> {
    let runtime = support::runtime()?;
    let app = support::register(&runtime, "calc-client")?;
    let ledger = runtime.app(app)?.ledger.clone();
    Ok(ledger.import(&apps("calc"))?.schema.clone())
}
