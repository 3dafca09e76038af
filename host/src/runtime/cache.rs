//! Compiled components cached on local disk, so a restart does not
//! recompile (Python and JavaScript components take seconds to compile).
//!
//! An artifact is named by the component's SHA-256 and a fingerprint of the
//! engine: wasmtime's own compatibility hash (version, target, compiler
//! settings) plus our crate version. A different wasmtime or engine config
//! therefore looks for a different file and never loads a stale artifact.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};

use anyhow::Context;
use wasmtime::component::Component;

/// Whether a component came from the cache or was compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Loaded a precompiled artifact from disk.
    Hit,
    /// Compiled (and stored for next time).
    Miss,
}

/// The on-disk cache of compiled components.
pub struct CompileCache {
    dir: PathBuf,
    fingerprint: String,
}

impl CompileCache {
    /// A cache in `dir` for artifacts of `engine`.
    pub fn new(dir: PathBuf, engine: &wasmtime::Engine) -> anyhow::Result<Self> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("failed to create compile cache {}", dir.display()))?;
        // FNV-1a over the engine's compatibility hash: stable for one build
        // and engine configuration, different otherwise.
        struct Fnv(u64);
        impl Hasher for Fnv {
            fn finish(&self) -> u64 {
                self.0
            }
            fn write(&mut self, bytes: &[u8]) {
                for b in bytes {
                    self.0 ^= u64::from(*b);
                    self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
                }
            }
        }
        let mut h = Fnv(0xcbf2_9ce4_8422_2325);
        engine.precompile_compatibility_hash().hash(&mut h);
        env!("CARGO_PKG_VERSION").hash(&mut h);
        Ok(CompileCache {
            dir,
            fingerprint: format!("{:016x}", h.finish()),
        })
    }

    fn path(&self, sha256: &str) -> PathBuf {
        self.dir
            .join(format!("{sha256}-{}.cwasm", self.fingerprint))
    }

    /// The component with this hash: from disk when cached, else compiled
    /// from `bytes` and written to disk (atomically, via a temporary file).
    pub fn load(
        &self,
        engine: &wasmtime::Engine,
        sha256: &str,
        bytes: &[u8],
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        let path = self.path(sha256);
        if path.exists() {
            match deserialize(engine, &path) {
                Ok(c) => return Ok((c, CacheOutcome::Hit)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable compile cache entry")
                }
            }
        }
        let compiled = engine
            .precompile_component(bytes)
            .map_err(anyhow::Error::from)
            .context("failed to compile component")?;
        // A temporary name per process and per call: two threads compiling
        // the same component both write, and the last rename wins.
        static NEXT_TMP: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT_TMP.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let tmp = path.with_extension(format!("tmp{}-{n}", std::process::id()));
        if let Err(e) = std::fs::write(&tmp, &compiled).and_then(|_| std::fs::rename(&tmp, &path)) {
            let _ = std::fs::remove_file(&tmp);
            if !path.exists() {
                return Err(e).with_context(|| {
                    format!("failed to write compile cache entry {}", path.display())
                });
            }
        }
        let component = deserialize(engine, &path)?;
        Ok((component, CacheOutcome::Miss))
    }
}

/// The one unsafe operation of the host.
///
/// SAFETY: `Component::deserialize_file` trusts its input to be an artifact
/// produced by `Engine::precompile_component` of a compatible engine. The
/// files read here are only ever written by [`CompileCache::load`] into the
/// host's own data directory, named by the component hash and the engine
/// fingerprint, and wasmtime itself checks the artifact's header against the
/// engine. Anyone able to write to the data directory could already replace
/// the host binary, so this adds no new trust.
#[allow(unsafe_code)]
fn deserialize(engine: &wasmtime::Engine, path: &Path) -> anyhow::Result<Component> {
    unsafe { Component::deserialize_file(engine, path) }
        .map_err(anyhow::Error::from)
        .with_context(|| format!("failed to load compiled component {}", path.display()))
}
