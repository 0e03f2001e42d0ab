//! InstanceHandle: one closure at a time; failing and panicking closures release the lock.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use exorun::instance::{self, InstanceHandle};
use wasmtime::component::Val;

use crate::support::{self, apps, single};

const NAP: Duration = Duration::from_millis(100);

async fn setup_handle() -> anyhow::Result<(exorun::runtime::Runtime, InstanceHandle)> {
    let rt = support::runtime()?;
    let handle = support::instantiate(&rt, "calc-server").await?;
    Ok((rt, handle))
}

async fn add(handle: &InstanceHandle, a: i32, b: i32) -> anyhow::Result<Val> {
    single(
        handle
            .call(&apps("calc"), "add", &[Val::S32(a), Val::S32(b)])
            .await?,
    )
}

/// Holds the lock across an await for `NAP`.
async fn nap_under_lock(handle: InstanceHandle) -> Result<(), instance::Error> {
    handle
        .exec_async(|_state| Box::pin(tokio::time::sleep(NAP)))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_long_closures_serialize() -> anyhow::Result<()> {
    let (_rt, handle) = setup_handle().await?;
    let start = support::now();
    let first = tokio::spawn(nap_under_lock(handle.clone()));
    let second = tokio::spawn(nap_under_lock(handle.clone()));
    first.await??;
    second.await??;
    let elapsed = start.elapsed();
    assert!(elapsed >= 2 * NAP, "closures overlapped: {elapsed:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_closures_never_overlap() -> anyhow::Result<()> {
    let (_rt, handle) = setup_handle().await?;
    let inside = Arc::new(AtomicUsize::new(0));
    let overlaps = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (handle, inside, overlaps) = (handle.clone(), inside.clone(), overlaps.clone());
        tasks.push(tokio::spawn(async move {
            handle
                .exec(move |_, _| {
                    if inside.fetch_add(1, Ordering::SeqCst) != 0 {
                        overlaps.fetch_add(1, Ordering::SeqCst);
                    }
                    for _ in 0..10_000 {
                        std::hint::black_box(inside.load(Ordering::SeqCst));
                    }
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
                .await
        }));
    }
    for task in tasks {
        task.await??;
    }
    assert_eq!(overlaps.load(Ordering::SeqCst), 0);
    Ok(())
}

#[tokio::test]
async fn a_failing_closure_releases_the_lock() -> anyhow::Result<()> {
    let (_rt, handle) = setup_handle().await?;
    let failed: Result<(), String> = handle.exec(|_, _| Err("no".to_owned())).await?;
    assert_eq!(failed, Err("no".to_owned()));
    assert_eq!(add(&handle, 1, 2).await?, Val::S32(3));
    Ok(())
}

#[tokio::test]
async fn a_panicking_closure_releases_the_lock() -> anyhow::Result<()> {
    let (_rt, handle) = setup_handle().await?;
    let panicked = handle.exec(|_, _| -> u32 { panic!("boom") }).await;
    let expected = instance::Error::Panicked {
        message: "boom".to_owned(),
    };
    assert_eq!(panicked, Err(expected));
    assert_eq!(add(&handle, 2, 3).await?, Val::S32(5));
    Ok(())
}

#[tokio::test]
async fn a_panicking_async_closure_releases_the_lock() -> anyhow::Result<()> {
    let (_rt, handle) = setup_handle().await?;
    let panicked = handle
        .exec_async(|_state| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_millis(1)).await;
                panic!("async boom")
            })
        })
        .await;
    let expected = instance::Error::Panicked {
        message: "async boom".to_owned(),
    };
    assert_eq!(panicked, Err(expected));
    assert_eq!(add(&handle, 3, 4).await?, Val::S32(7));
    Ok(())
}

#[tokio::test]
async fn call_errors_are_typed() -> anyhow::Result<()> {
    let (_rt, handle) = setup_handle().await?;
    let missing = handle.call(&apps("calc"), "mul", &[]).await;
    let expected = instance::Error::ExportNotFound {
        interface: apps("calc"),
        method: "mul".to_owned(),
    };
    assert_eq!(missing, Err(expected));
    let short = handle.call(&apps("calc"), "add", &[Val::S32(1)]).await;
    let expected = instance::Error::ArgumentCount {
        method: "add".to_owned(),
        expected: 2,
        found: 1,
    };
    assert_eq!(short, Err(expected));
    assert_eq!(add(&handle, 4, 5).await?, Val::S32(9));
    Ok(())
}
