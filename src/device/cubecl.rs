//! CubeCL, the kernel compiler and runtime under Burn's GPU backends (`cuda`, `wgpu`): where it
//! keeps what it learns about a GPU.
//!
//! On a GPU CubeCL times a few variants of each kernel for every new operation shape
//! (autotuning: the first epoch of each phase of the tutorial recipe took 9-20 s instead of 1-3 s
//! on an H200) and stores the winners in a database, so that later runs start at full speed. By
//! default that database goes to `target/environment` under the outermost folder with a
//! `Cargo.toml` above the working directory, else to ~/.cache/cubecl: a run started inside a
//! source checkout would tune again in every checkout and leave the results in its `target`
//! folder. runner puts it in its own cache folder instead, `cubecl/` under the cache root
//! (`$RUNNER_CACHE`, else ~/.cache/runner), whatever the working directory, unless a
//! `cubecl.toml` (or a `[cubecl]` section of `burn.toml`) in or above the working directory
//! names a folder (`[environment] path = {directory = "..."}`, `"local"` or `"global"`). The
//! other settings of such a file and CubeCL's environment variables (`CUBECL_AUTOTUNE_LEVEL`,
//! `CUBECL_AUTOTUNE_CACHE=0`...) still apply. The command line's log bridge
//! (src/cli/log_bridge.rs) turns the chatter of tuning into one line.

use cubecl_runtime::config::cache::CacheConfig;
use cubecl_runtime::config::{CubeClRuntimeConfig, RuntimeConfig};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The folder of the autotune database, once [`configure`] has run.
static FOLDER: OnceLock<Option<PathBuf>> = OnceLock::new();

/// Sets CubeCL's configuration before the first GPU device is made (later calls do nothing).
pub(super) fn configure() {
    FOLDER.get_or_init(|| {
        let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
        if matches!(config.environment.path, CacheConfig::Target) {
            match crate::fetch::cache::root() {
                Ok(root) => config.environment.path = CacheConfig::Directory(root.join("cubecl")),
                Err(e) => {
                    tracing::warn!("CubeCL keeps its autotune results in its own folder: {e}")
                }
            }
        }
        let folder = config.environment.path.root();
        if CubeClRuntimeConfig::try_set(config) {
            Some(folder)
        } else {
            // Only a library user who configured CubeCL first gets here; theirs stands.
            None
        }
    });
}

/// Where CubeCL keeps autotune results, when runner chose it.
pub fn folder() -> Option<PathBuf> {
    FOLDER.get().cloned().flatten()
}
