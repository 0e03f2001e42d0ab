//! Local linking and instantiation: exorun against raw wasmtime, in one run.
//!
//! - `call`: `calc-client.run(a, b)`, which calls the imported `calc.add(a, b)` served by a
//!   `calc-server` instance in another store. `exorun_*` link through `InstanceBuilder` (a
//!   local slot; both instances are synchronous: no fiber); `raw_async` uses the same engine with a
//!   hand-written async host function that locks the server's store and calls its `add` with
//!   `call_async`; `raw_sync` does the same with no async at all (sync linker, sync calls, a std
//!   mutex): the floor. Each iteration makes [`CALLS`] calls; the async variants make them
//!   inside one `block_on`, as calls into exorun are made from inside a task.
//! - `instantiate`: a `calc-server` instance through `InstanceBuilder` (a cached
//!   `InstancePre`) against raw `InstancePre::instantiate_async`, both with the pooling
//!   allocator.
//!
//! The fixtures come from `scripts/build_apps.sh`.

#[cfg(madsim)]
fn main() {
    println!("the local benchmarks run without --cfg madsim");
}

#[cfg(not(madsim))]
fn main() {
    divan::main();
}

#[cfg(not(madsim))]
mod benches {
    use std::path::PathBuf;
    use std::sync::{Arc, LazyLock};

    use divan::Bencher;
    use exorun::builder::{InstanceBuilder, Linkable};
    use exorun::instance::{ExportedFunc, InstanceHandle};
    use exorun::runtime::{AppId, Runtime};
    use wasmtime::component::types::ComponentFunc;
    use wasmtime::component::{Component, Func, InstancePre, Linker, ResourceTable, Val};
    use wasmtime::{Engine, Store, StoreContextMut};
    use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

    const CALC: &str = "exorun:apps/calc@0.1.0";
    const RUNNER: &str = "exorun:apps/runner@0.1.0";
    /// Calls per iteration: the async variants run them inside one `block_on`, as exorun's calls
    /// run inside a task, so that the harness's entry into the executor is not what is timed.
    /// Divide the time column by it; the throughput column is per call.
    const CALLS: usize = 100;

    fn batch() -> divan::counter::ItemsCount {
        divan::counter::ItemsCount::new(CALLS)
    }

    fn fixture(world: &str) -> Vec<u8> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(format!("{world}.wasm"));
        std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "fixture {} missing ({e}): run scripts/build_apps.sh",
                path.display()
            )
        })
    }

    fn executor() -> tokio::runtime::Runtime {
        let built = tokio::runtime::Builder::new_current_thread().build();
        built.unwrap_or_else(|e| panic!("tokio runtime: {e}"))
    }

    fn ok<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{what}: {e}"))
    }

    struct Fixture {
        exec: tokio::runtime::Runtime,
        rt: Runtime,
        server_app: AppId,
        client_app: AppId,
    }

    static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
        let rt = ok("runtime", Runtime::new());
        let server_app = ok(
            "register",
            rt.register_app("calc-server", &fixture("calc-server")),
        );
        let client_app = ok(
            "register",
            rt.register_app("calc-client", &fixture("calc-client")),
        );
        Fixture {
            exec: executor(),
            rt,
            server_app,
            client_app,
        }
    });

    // ---- call ---------------------------------------------------------------------------------

    struct ExorunPair {
        client: InstanceHandle,
        run: ExportedFunc,
        _server: InstanceHandle,
    }

    fn exorun_pair() -> ExorunPair {
        let f = &*FIXTURE;
        f.exec.block_on(async {
            let server = InstanceBuilder::new(&f.rt, f.server_app)
                .instantiate()
                .await;
            let server = ok("server", server);
            let client = InstanceBuilder::new(&f.rt, f.client_app)
                .link(CALC, Linkable::Local(server.clone()))
                .instantiate()
                .await;
            let client = ok("client", client);
            let run = ok("run", client.func(RUNNER, "run").await);
            ExorunPair {
                client,
                run,
                _server: server,
            }
        })
    }

    #[divan::bench(sample_count = 200, sample_size = 5)]
    fn call_exorun_by_name(bencher: Bencher) {
        let pair = exorun_pair();
        let exec = &FIXTURE.exec;
        let args = [Val::S32(2), Val::S32(40)];
        bencher.counter(batch()).bench_local(|| {
            exec.block_on(async {
                for _ in 0..CALLS {
                    let results = pair.client.call(RUNNER, "run", &args).await;
                    divan::black_box(ok("call", results));
                }
            })
        });
    }

    #[divan::bench(sample_count = 200, sample_size = 5)]
    fn call_exorun_prepared(bencher: Bencher) {
        let pair = exorun_pair();
        let exec = &FIXTURE.exec;
        let args = [Val::S32(2), Val::S32(40)];
        bencher.counter(batch()).bench_local(|| {
            exec.block_on(async {
                for _ in 0..CALLS {
                    let mut results = [Val::S32(0)];
                    let called = pair
                        .client
                        .call_func_if(&pair.run, &args, &mut results, || true);
                    ok("call", called.await);
                    divan::black_box(results);
                }
            })
        });
    }

    /// Store data for the raw variants: WASI and nothing else.
    struct RawCtx {
        wasi: WasiCtx,
        table: ResourceTable,
    }

    impl WasiView for RawCtx {
        fn ctx(&mut self) -> WasiCtxView<'_> {
            WasiCtxView {
                ctx: &mut self.wasi,
                table: &mut self.table,
            }
        }
    }

    fn raw_store(engine: &Engine) -> Store<RawCtx> {
        let ctx = RawCtx {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
        };
        let mut store = Store::new(engine, ctx);
        ok("fuel", store.set_fuel(u64::MAX));
        store
    }

    fn component(world: &str) -> Component {
        ok(
            "compile",
            Component::new(FIXTURE.rt.engine(), fixture(world)),
        )
    }

    fn export(
        store: &mut Store<RawCtx>,
        instance: &wasmtime::component::Instance,
        iface: &str,
        name: &str,
    ) -> Func {
        let parent = instance.get_export_index(&mut *store, None, iface);
        let index = instance.get_export_index(&mut *store, parent.as_ref(), name);
        let func = index.and_then(|index| instance.get_func(&mut *store, index));
        func.unwrap_or_else(|| panic!("no export {iface}#{name}"))
    }

    type HostFuture<'a> = Box<dyn Future<Output = wasmtime::Result<()>> + Send + 'a>;

    /// A raw async host function: lock the server's store, call its `add`.
    fn raw_async_add(
        server: Arc<tokio::sync::Mutex<Store<RawCtx>>>,
        add: Func,
    ) -> impl for<'a> Fn(
        StoreContextMut<'a, RawCtx>,
        ComponentFunc,
        &'a [Val],
        &'a mut [Val],
    ) -> HostFuture<'a>
    + Send
    + Sync
    + 'static {
        move |_store, _ty, params, results| {
            let server = server.clone();
            Box::new(async move {
                let mut server = server.lock().await;
                add.call_async(&mut *server, params, results).await
            })
        }
    }

    #[divan::bench(sample_count = 200, sample_size = 5)]
    fn call_raw_async(bencher: Bencher) {
        let engine = FIXTURE.rt.engine().clone();
        let exec = &FIXTURE.exec;
        let (mut client, run) = exec.block_on(async {
            let mut linker = Linker::<RawCtx>::new(&engine);
            ok("wasi", wasmtime_wasi::p2::add_to_linker_async(&mut linker));
            let mut server = raw_store(&engine);
            let instance = linker
                .instantiate_async(&mut server, &component("calc-server"))
                .await;
            let instance = ok("server", instance);
            let add = export(&mut server, &instance, CALC, "add");
            let mut calc = ok("calc", linker.instance(CALC));
            let host = raw_async_add(Arc::new(tokio::sync::Mutex::new(server)), add);
            ok("add", calc.func_new_async("add", host));
            for unused in ["sum", "greet"] {
                let trap =
                    |_: wasmtime::StoreContextMut<'_, RawCtx>, _ty, _: &[Val], _: &mut [Val]| {
                        Err(wasmtime::format_err!("unused"))
                    };
                ok("unused", calc.func_new(unused, trap));
            }
            let mut client = raw_store(&engine);
            let instance = linker
                .instantiate_async(&mut client, &component("calc-client"))
                .await;
            let instance = ok("client", instance);
            let run = export(&mut client, &instance, RUNNER, "run");
            (client, run)
        });
        let args = [Val::S32(2), Val::S32(40)];
        bencher.counter(batch()).bench_local(|| {
            exec.block_on(async {
                for _ in 0..CALLS {
                    let mut results = [Val::S32(0)];
                    let called = run.call_async(&mut client, &args, &mut results).await;
                    ok("call", called);
                    divan::black_box(results);
                }
            })
        });
    }

    #[divan::bench(sample_count = 200, sample_size = 5)]
    fn call_raw_sync(bencher: Bencher) {
        let engine = FIXTURE.rt.engine().clone();
        let mut linker = Linker::<RawCtx>::new(&engine);
        ok("wasi", wasmtime_wasi::p2::add_to_linker_sync(&mut linker));
        let mut server = raw_store(&engine);
        let instance = ok(
            "server",
            linker.instantiate(&mut server, &component("calc-server")),
        );
        let add = export(&mut server, &instance, CALC, "add");
        let server = Arc::new(std::sync::Mutex::new(server));
        let mut calc = ok("calc", linker.instance(CALC));
        let host = move |_store: wasmtime::StoreContextMut<'_, RawCtx>,
                         _ty,
                         params: &[Val],
                         results: &mut [Val]| {
            let mut server = server
                .lock()
                .map_err(|_| wasmtime::format_err!("poisoned"))?;
            add.call(&mut *server, params, results)
        };
        ok("add", calc.func_new("add", host));
        for unused in ["sum", "greet"] {
            let trap = |_: wasmtime::StoreContextMut<'_, RawCtx>, _ty, _: &[Val], _: &mut [Val]| {
                Err(wasmtime::format_err!("unused"))
            };
            ok("unused", calc.func_new(unused, trap));
        }
        let mut client = raw_store(&engine);
        let instance = ok(
            "client",
            linker.instantiate(&mut client, &component("calc-client")),
        );
        let run = export(&mut client, &instance, RUNNER, "run");
        let args = [Val::S32(2), Val::S32(40)];
        bencher.counter(batch()).bench_local(|| {
            for _ in 0..CALLS {
                let mut results = [Val::S32(0)];
                ok("call", run.call(&mut client, &args, &mut results));
                divan::black_box(results);
            }
        });
    }

    // ---- instantiate --------------------------------------------------------------------------

    #[divan::bench(sample_count = 100, sample_size = 20)]
    fn instantiate_exorun(bencher: Bencher) {
        let f = &*FIXTURE;
        bencher.bench_local(|| {
            let built = f
                .exec
                .block_on(InstanceBuilder::new(&f.rt, f.server_app).instantiate());
            let handle = ok("instantiate", built);
            ok("remove", f.rt.remove_instance(handle.id()))
        });
    }

    #[divan::bench(sample_count = 100, sample_size = 20)]
    fn instantiate_raw(bencher: Bencher) {
        let engine = FIXTURE.rt.engine().clone();
        let mut linker = Linker::<RawCtx>::new(&engine);
        ok("wasi", wasmtime_wasi::p2::add_to_linker_async(&mut linker));
        let pre: InstancePre<RawCtx> = ok("pre", linker.instantiate_pre(&component("calc-server")));
        let exec = &FIXTURE.exec;
        bencher.bench_local(|| {
            let mut store = raw_store(&engine);
            let instance = ok(
                "instantiate",
                exec.block_on(pre.instantiate_async(&mut store)),
            );
            (store, instance)
        });
    }
}
