//! `links DIR`: the multi-call links that make Gemnasium's documented commands run verbatim.

use std::io::ErrorKind;
use std::path::Path;

use anyhow::Context;

use super::Ctx;
use crate::error::hinted;
use crate::output::print_json;
use crate::MULTICALL_NAMES;

pub fn run(ctx: &Ctx, dir: &Path, force: bool) -> anyhow::Result<()> {
    let exe = std::env::current_exe()
        .and_then(|e| e.canonicalize())
        .context("cannot find this program's own path")?;
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create directory {}", dir.display()))?;
    let mut results = Vec::new();
    for name in MULTICALL_NAMES {
        let link = dir.join(name);
        let outcome = match std::fs::symlink_metadata(&link) {
            Ok(meta)
                if meta.file_type().is_symlink()
                    && std::fs::read_link(&link).ok().as_deref() == Some(exe.as_path()) =>
            {
                "unchanged"
            }
            Ok(_) if force => {
                std::fs::remove_file(&link)
                    .with_context(|| format!("cannot replace {}", link.display()))?;
                std::os::unix::fs::symlink(&exe, &link)
                    .with_context(|| format!("cannot create {}", link.display()))?;
                "replaced"
            }
            Ok(_) => {
                return Err(hinted(
                    format!(
                        "{} exists and is not a link to this program",
                        link.display()
                    ),
                    "remove it, choose another directory, or pass --force to replace it",
                ))
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                std::os::unix::fs::symlink(&exe, &link)
                    .with_context(|| format!("cannot create {}", link.display()))?;
                "created"
            }
            Err(e) => return Err(e).with_context(|| format!("cannot inspect {}", link.display())),
        };
        results.push((link, outcome));
    }
    if ctx.json {
        let json: Vec<_> = results
            .iter()
            .map(|(link, outcome)| serde_json::json!({"link": link, "target": exe, "outcome": outcome}))
            .collect();
        return print_json(&json);
    }
    for (link, outcome) in &results {
        crate::outln!("link {} -> {}: {outcome}", link.display(), exe.display())?;
    }
    Ok(())
}
