//! Context and WASI: mounts, WASI error codes, no host paths, user data.

use std::path::{Path, PathBuf};

use exorun::builder::{self, InstanceBuilder};
use exorun::context;
use exorun::instance::InstanceHandle;
use exorun::runtime::Runtime;
use exorun::system::{self, WasiSystem};
use wasmtime::component::Val;

use crate::support::{self, apps, single, string};

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir {
    path: PathBuf,
}

impl TempDir {
    fn new(name: &str) -> anyhow::Result<TempDir> {
        let unique = format!("exorun-{name}-{}", std::process::id());
        let path = std::env::temp_dir().join(unique);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)?;
        Ok(TempDir { path })
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

/// `<tmp>/mounted/hello.txt` (mounted at `/data`) and `<tmp>/secret.txt` (not mounted).
fn layout(name: &str) -> anyhow::Result<TempDir> {
    let dir = TempDir::new(name)?;
    std::fs::create_dir_all(dir.path.join("mounted"))?;
    std::fs::write(dir.path.join("mounted/hello.txt"), "hello from the host")?;
    std::fs::write(dir.path.join("secret.txt"), "not for guests")?;
    Ok(dir)
}

async fn file_reader(rt: &Runtime, mounted: &Path) -> anyhow::Result<InstanceHandle> {
    let app = support::register(rt, "file-reader")?;
    let wasi = WasiSystem::new().mount(mounted, "/data");
    let reader = InstanceBuilder::new(rt, app)
        .system(wasi)
        .instantiate()
        .await?;
    Ok(reader)
}

async fn read(reader: &InstanceHandle, path: &str) -> anyhow::Result<Result<String, String>> {
    let result = single(
        reader
            .call(&apps("files"), "read-file", &[string(path)])
            .await?,
    )?;
    let Val::Result(result) = result else {
        anyhow::bail!("read-file returned {result:?}");
    };
    let text = |v: Option<Box<Val>>| match v.map(|v| *v) {
        Some(Val::String(s)) => Ok(s),
        other => Err(anyhow::anyhow!("expected a string, got {other:?}")),
    };
    Ok(match result {
        Ok(ok) => Ok(text(ok)?),
        Err(err) => Err(text(err)?),
    })
}

/// Reads `path` in the guest and checks the outcome; no error may name the host directory.
async fn check(
    reader: &InstanceHandle,
    host_dir: &Path,
    path: &str,
    expected: Result<&str, &str>,
) -> anyhow::Result<()> {
    let outcome = read(reader, path).await?;
    let outcome_ref = outcome.as_ref().map(String::as_str).map_err(String::as_str);
    assert_eq!(outcome_ref, expected, "reading {path}");
    if let Err(message) = &outcome {
        let host = host_dir.to_string_lossy();
        assert!(
            !message.contains(host.as_ref()),
            "host path leaked: {message}"
        );
    }
    Ok(())
}

#[tokio::test]
async fn wasi_reads_a_mounted_file() -> anyhow::Result<()> {
    let dir = layout("read")?;
    let rt = support::runtime()?;
    let reader = file_reader(&rt, &dir.path.join("mounted")).await?;
    check(
        &reader,
        &dir.path,
        "/data/hello.txt",
        Ok("hello from the host"),
    )
    .await
}

#[tokio::test]
async fn wasi_errors_are_specific_codes_without_host_paths() -> anyhow::Result<()> {
    let dir = layout("errors")?;
    let rt = support::runtime()?;
    let reader = file_reader(&rt, &dir.path.join("mounted")).await?;
    let cases = [
        ("/data/missing.txt", Err("NotFound (errno 44)")),
        ("/data/../secret.txt", Err("PermissionDenied (errno 63)")),
        ("/secret.txt", Err("NotFound (errno 44)")),
        ("/etc/passwd", Err("NotFound (errno 44)")),
    ];
    for (path, expected) in cases {
        check(&reader, &dir.path, path, expected).await?;
    }
    let host_secret = dir.path.join("secret.txt");
    let host_secret = host_secret.to_string_lossy();
    check(&reader, &dir.path, &host_secret, Err("NotFound (errno 44)")).await
}

#[tokio::test]
async fn no_mount_means_no_files() -> anyhow::Result<()> {
    let dir = layout("nomount")?;
    let rt = support::runtime()?;
    let reader = support::instantiate(&rt, "file-reader").await?;
    check(
        &reader,
        &dir.path,
        "/data/hello.txt",
        Err("NotFound (errno 44)"),
    )
    .await
}

#[tokio::test]
async fn a_failed_mount_names_only_the_guest_path() -> anyhow::Result<()> {
    let dir = TempDir::new("badmount")?;
    let rt = support::runtime()?;
    let app = support::register(&rt, "file-reader")?;
    let missing = dir.path.join("does-not-exist");
    let wasi = WasiSystem::new().mount(&missing, "/data");
    let err = InstanceBuilder::new(&rt, app)
        .system(wasi)
        .instantiate()
        .await
        .err();
    let Some(builder::Error::System(system::Error::Config { cause, .. })) = &err else {
        anyhow::bail!("expected a mount error, got {err:?}");
    };
    let expected = context::Error::Mount {
        guest: "/data".to_owned(),
        kind: std::io::ErrorKind::NotFound,
    };
    assert_eq!(cause, &expected);
    let message = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(
        !message.contains(dir.path.to_string_lossy().as_ref()),
        "{message}"
    );
    Ok(())
}

#[derive(Debug, PartialEq)]
struct Tenant(&'static str);

#[tokio::test]
async fn user_data_reaches_the_store() -> anyhow::Result<()> {
    let rt = support::runtime()?;
    let app = support::register(&rt, "calc-server")?;
    let server = InstanceBuilder::new(&rt, app)
        .context(|ctx| {
            ctx.insert(Tenant("acme"));
        })
        .instantiate()
        .await?;
    let tenant = server
        .exec(|store, _| store.data().get::<Tenant>().map(|t| t.0))
        .await?;
    assert_eq!(tenant, Some("acme"));
    let limits = server.exec(|store, _| store.data().limits()).await?;
    assert_eq!(limits, rt.config().limits);
    Ok(())
}
