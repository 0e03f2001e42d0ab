//! WASI without a fiber: `wasi:io` streams and polls that never wait.
//!
//! wasmtime-wasi links its blocking functions (`pollable.block`, `blocking-flush`, dropping a
//! stream, ...) as async host functions, and a single async import makes a store require
//! `call_async`, which runs every call on a fiber. Its synchronous bindings are no way out: they
//! drive those functions on a tokio runtime of their own, which panics inside ours and spawns
//! threads under madsim.
//!
//! Most guests never wait on anything, though. A guest that imports neither
//! `wasi:filesystem`, nor `wasi:sockets`, nor a monotonic-clock `subscribe-*` can only hold the
//! streams its context gives it: a closed stdin and a stdout and stderr that discard or capture
//! in memory (see [`crate::context`]), all ready at any moment. For such a guest ([`may_run_sync`])
//! exorun links the `wasi:io` interfaces defined here: each blocking function polls wasmtime-wasi's
//! own implementation once and traps, with [`WOULD_BLOCK`] in the message, if it is not ready.
//! That trap only fires if an embedder installs a stream that can wait (through
//! [`crate::context::ContextBuilder::wasi_mut`]); such guests need the async WASI, which every
//! guest with a blocking import gets.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use wasmtime::Engine;
use wasmtime::component::types::{self, ComponentItem};
use wasmtime::component::{HasData, Linker, Resource, ResourceTable};
use wasmtime_wasi::WasiView;
use wasmtime_wasi::p2::bindings::sync::io::{poll, streams};
use wasmtime_wasi_io::bindings::wasi::io::poll::{
    Host as AsyncPoll, HostPollable as AsyncPollable,
};
use wasmtime_wasi_io::bindings::wasi::io::streams::{
    Host as AsyncStreams, HostInputStream as AsyncInput, HostOutputStream as AsyncOutput,
};
use wasmtime_wasi_io::poll::DynPollable;
use wasmtime_wasi_io::streams::{DynInputStream, DynOutputStream, StreamError, StreamResult};

/// What the trap says when a stream or pollable was not ready in a synchronous instance.
pub const WOULD_BLOCK: &str = "would block in a synchronous instance";

/// Whether a component can run with synchronous WASI: it imports nothing that can wait (no
/// filesystem, no sockets, no monotonic-clock timers).
pub fn may_run_sync(component: &types::Component, engine: &Engine) -> bool {
    component.imports(engine).all(|(name, item)| {
        let blocking_interface =
            name.starts_with("wasi:filesystem/") || name.starts_with("wasi:sockets/");
        if blocking_interface {
            return false;
        }
        if !name.starts_with("wasi:clocks/monotonic-clock") {
            return true;
        }
        let ComponentItem::ComponentInstance(instance) = item.ty else {
            return true;
        };
        let mut funcs = instance.exports(engine).map(|(func, _)| func);
        !funcs.any(|func| func.starts_with("subscribe-"))
    })
}

/// WASI p2 with every function synchronous: wasmtime-wasi's synchronous bindings, with the
/// `wasi:io` interfaces replaced by the ones here. Only for guests [`may_run_sync`] accepts:
/// the filesystem and socket functions in it would start wasmtime-wasi's own runtime. Leaves
/// shadowing allowed, as exorun's linkers have it.
pub fn add_to_linker<T: WasiView + 'static>(linker: &mut Linker<T>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    poll::add_to_linker::<T, ReadyIo>(linker, |t| Ready(t.ctx().table))?;
    streams::add_to_linker::<T, ReadyIo>(linker, |t| Ready(t.ctx().table))?;
    Ok(())
}

/// The host of the synchronous `wasi:io` interfaces: the store's resource table.
struct Ready<'a>(&'a mut ResourceTable);

struct ReadyIo;

impl HasData for ReadyIo {
    type Data<'a> = Ready<'a>;
}

/// Polls `future` once; `None` if it would have to wait.
fn now<F: Future>(future: F) -> Option<F::Output> {
    let mut context = Context::from_waker(Waker::noop());
    match pin!(future).poll(&mut context) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

fn would_block(what: &str) -> wasmtime::Error {
    wasmtime::format_err!("wasi `{what}` {WOULD_BLOCK}")
}

/// [`now`] for a function that returns a plain result.
fn ready<T>(what: &str, future: impl Future<Output = wasmtime::Result<T>>) -> wasmtime::Result<T> {
    now(future).unwrap_or_else(|| Err(would_block(what)))
}

/// [`now`] for a stream function; not being ready traps.
fn ready_stream<T>(what: &str, future: impl Future<Output = StreamResult<T>>) -> StreamResult<T> {
    now(future).unwrap_or_else(|| Err(StreamError::Trap(would_block(what))))
}

impl poll::Host for Ready<'_> {
    fn poll(&mut self, pollables: Vec<Resource<DynPollable>>) -> wasmtime::Result<Vec<u32>> {
        ready("poll", AsyncPoll::poll(self.0, pollables))
    }
}

impl poll::HostPollable for Ready<'_> {
    fn ready(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<bool> {
        ready("pollable.ready", AsyncPollable::ready(self.0, pollable))
    }

    fn block(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        ready("pollable.block", AsyncPollable::block(self.0, pollable))
    }

    fn drop(&mut self, pollable: Resource<DynPollable>) -> wasmtime::Result<()> {
        AsyncPollable::drop(self.0, pollable)
    }
}

impl streams::Host for Ready<'_> {
    fn convert_stream_error(&mut self, err: StreamError) -> wasmtime::Result<streams::StreamError> {
        use wasmtime_wasi_io::bindings::wasi::io::streams::StreamError as Converted;
        Ok(match AsyncStreams::convert_stream_error(self.0, err)? {
            Converted::LastOperationFailed(e) => streams::StreamError::LastOperationFailed(e),
            Converted::Closed => streams::StreamError::Closed,
        })
    }
}

impl streams::HostOutputStream for Ready<'_> {
    fn drop(&mut self, stream: Resource<DynOutputStream>) -> wasmtime::Result<()> {
        ready("output-stream.drop", AsyncOutput::drop(self.0, stream))
    }

    fn check_write(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<u64> {
        AsyncOutput::check_write(self.0, stream)
    }

    fn write(&mut self, stream: Resource<DynOutputStream>, bytes: Vec<u8>) -> StreamResult<()> {
        AsyncOutput::write(self.0, stream, bytes)
    }

    fn blocking_write_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        bytes: Vec<u8>,
    ) -> StreamResult<()> {
        let written = AsyncOutput::blocking_write_and_flush(self.0, stream, bytes);
        ready_stream("blocking-write-and-flush", written)
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        stream: Resource<DynOutputStream>,
        len: u64,
    ) -> StreamResult<()> {
        let written = AsyncOutput::blocking_write_zeroes_and_flush(self.0, stream, len);
        ready_stream("blocking-write-zeroes-and-flush", written)
    }

    fn subscribe(
        &mut self,
        stream: Resource<DynOutputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncOutput::subscribe(self.0, stream)
    }

    fn write_zeroes(&mut self, stream: Resource<DynOutputStream>, len: u64) -> StreamResult<()> {
        AsyncOutput::write_zeroes(self.0, stream, len)
    }

    fn flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        AsyncOutput::flush(self.0, stream)
    }

    fn blocking_flush(&mut self, stream: Resource<DynOutputStream>) -> StreamResult<()> {
        ready_stream(
            "blocking-flush",
            AsyncOutput::blocking_flush(self.0, stream),
        )
    }

    fn splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        AsyncOutput::splice(self.0, dst, src, len)
    }

    fn blocking_splice(
        &mut self,
        dst: Resource<DynOutputStream>,
        src: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<u64> {
        let spliced = AsyncOutput::blocking_splice(self.0, dst, src, len);
        ready_stream("blocking-splice", spliced)
    }
}

impl streams::HostInputStream for Ready<'_> {
    fn drop(&mut self, stream: Resource<DynInputStream>) -> wasmtime::Result<()> {
        ready("input-stream.drop", AsyncInput::drop(self.0, stream))
    }

    fn read(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<Vec<u8>> {
        AsyncInput::read(self.0, stream, len)
    }

    fn blocking_read(
        &mut self,
        stream: Resource<DynInputStream>,
        len: u64,
    ) -> StreamResult<Vec<u8>> {
        ready_stream(
            "blocking-read",
            AsyncInput::blocking_read(self.0, stream, len),
        )
    }

    fn skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        AsyncInput::skip(self.0, stream, len)
    }

    fn blocking_skip(&mut self, stream: Resource<DynInputStream>, len: u64) -> StreamResult<u64> {
        ready_stream(
            "blocking-skip",
            AsyncInput::blocking_skip(self.0, stream, len),
        )
    }

    fn subscribe(
        &mut self,
        stream: Resource<DynInputStream>,
    ) -> wasmtime::Result<Resource<DynPollable>> {
        AsyncInput::subscribe(self.0, stream)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use poll::{Host as _, HostPollable as _};

    /// A pollable that becomes ready when told to.
    struct Gate {
        open: bool,
    }

    #[async_trait::async_trait]
    impl wasmtime_wasi_io::poll::Pollable for Gate {
        async fn ready(&mut self) {
            if !self.open {
                std::future::pending::<()>().await;
            }
        }
    }

    fn gate(table: &mut ResourceTable, open: bool) -> wasmtime::Result<Resource<DynPollable>> {
        let gate = table.push(Gate { open })?;
        wasmtime_wasi_io::poll::subscribe(table, gate)
    }

    #[test]
    fn a_ready_pollable_answers_at_once() -> wasmtime::Result<()> {
        let mut table = ResourceTable::new();
        let open = gate(&mut table, true)?;
        let mut io = Ready(&mut table);
        io.block(Resource::new_borrow(open.rep()))?;
        assert!(io.ready(Resource::new_borrow(open.rep()))?);
        assert_eq!(io.poll(vec![Resource::new_borrow(open.rep())])?, vec![0]);
        Ok(())
    }

    #[test]
    fn a_pollable_that_would_wait_traps_instead() -> wasmtime::Result<()> {
        let mut table = ResourceTable::new();
        let shut = gate(&mut table, false)?;
        let mut io = Ready(&mut table);
        let blocked = io.block(Resource::new_borrow(shut.rep()));
        let message = blocked.err().map(|e| e.to_string());
        let expected = format!("wasi `pollable.block` {WOULD_BLOCK}");
        assert_eq!(message.as_deref(), Some(expected.as_str()));
        assert!(!io.ready(Resource::new_borrow(shut.rep()))?);
        let polled = io.poll(vec![Resource::new_borrow(shut.rep())]);
        let message = polled.err().map(|e| e.to_string());
        let expected = format!("wasi `poll` {WOULD_BLOCK}");
        assert_eq!(message.as_deref(), Some(expected.as_str()));
        Ok(())
    }
}
