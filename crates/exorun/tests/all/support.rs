//! Shared helpers: fixtures, runtimes, values, a mock transport.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Context as _;
use exorun::builder::{InstanceBuilder, Linkable};
use exorun::instance::InstanceHandle;
use exorun::runtime::{AppId, Runtime};
use exorun::transport;
use wasmtime::component::Val;

/// The script that builds the fixtures.
pub const BUILD_SCRIPT: &str = "scripts/build_apps.sh";

/// The qualified name of an interface of `exorun:apps`.
pub fn apps(interface: &str) -> String {
    format!("exorun:apps/{interface}@0.1.0")
}

/// The bytes of the component built from `world`.
pub fn fixture(world: &str) -> anyhow::Result<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{world}.wasm"));
    std::fs::read(&path).with_context(|| {
        format!(
            "fixture {} is missing: run {BUILD_SCRIPT} first",
            path.display()
        )
    })
}

/// A runtime with the default configuration.
pub fn runtime() -> anyhow::Result<Runtime> {
    Ok(Runtime::new()?)
}

/// Registers the fixture `world` under its own name.
pub fn register(runtime: &Runtime, world: &str) -> anyhow::Result<AppId> {
    Ok(runtime.register_app(world, &fixture(world)?)?)
}

/// An instance of `world` with no links beyond WASI.
pub async fn instantiate(runtime: &Runtime, world: &str) -> anyhow::Result<InstanceHandle> {
    let app = register(runtime, world)?;
    Ok(InstanceBuilder::new(runtime, app).instantiate().await?)
}

/// An instance of `world` with one link.
pub async fn instantiate_linked(
    runtime: &Runtime,
    world: &str,
    interface: &str,
    target: Linkable,
) -> anyhow::Result<InstanceHandle> {
    let app = register(runtime, world)?;
    let builder = InstanceBuilder::new(runtime, app).link(interface, target);
    Ok(builder.instantiate().await?)
}

/// The only result of a call.
pub fn single(results: Vec<Val>) -> anyhow::Result<Val> {
    let [one] = <[Val; 1]>::try_from(results)
        .map_err(|r| anyhow::anyhow!("expected one result, got {r:?}"))?;
    Ok(one)
}

pub fn string(s: &str) -> Val {
    Val::String(s.to_owned())
}

pub fn some_string(s: &str) -> Val {
    Val::Option(Some(Box::new(string(s))))
}

/// A transport that hands back what was sent, in order.
#[derive(Default)]
pub struct MockTransport {
    frames: Mutex<VecDeque<Vec<u8>>>,
}

#[async_trait::async_trait]
impl transport::Transport for MockTransport {
    async fn send(&self, frame: &[u8]) -> Result<(), transport::Error> {
        let mut frames = self.frames.lock().map_err(|_| transport::Error::Closed)?;
        frames.push_back(frame.to_vec());
        Ok(())
    }

    async fn recv(&self) -> Result<Option<Vec<u8>>, transport::Error> {
        let mut frames = self.frames.lock().map_err(|_| transport::Error::Closed)?;
        Ok(frames.pop_front())
    }
}
