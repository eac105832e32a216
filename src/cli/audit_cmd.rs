//! `keyrotor audit verify|export`: check the hash chain of the token's
//! audit log (exit code 3 when it was tampered with), or write it out as
//! JSON lines.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::json;

use super::context::Ctx;
use super::error::{CliError, CliResult};
use super::Cli;
use crate::audit::chain::{self, ProblemKind, VerifyReport};

/// Audit subcommands.
#[derive(Subcommand)]
pub enum AuditAction {
    /// Verify the audit log's hash chain; exit code 3 if it was tampered with.
    Verify,
    /// Write the audit log as JSON lines.
    Export {
        /// Write to this file (created with mode 0600) instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

fn kind_name(k: &ProblemKind) -> &'static str {
    match k {
        ProblemKind::HashMismatch => "hash-mismatch",
        ProblemKind::SeqGap { .. } => "seq-gap",
        ProblemKind::PrevHashMismatch => "prev-hash-mismatch",
    }
}

/// The verification report as text or JSON.
fn render(report: &VerifyReport, slot: u64, json: bool) -> String {
    if json {
        let problems: Vec<_> = report
            .problems
            .iter()
            .map(|p| json!({ "seq": p.seq, "kind": kind_name(&p.kind), "message": p.message }))
            .collect();
        return format!(
            "{}\n",
            json!({ "ok": report.ok, "entries": report.entries, "problems": problems })
        );
    }
    if report.ok {
        return format!(
            "audit log of slot {slot}: OK, {} entries, hash chain intact\n",
            report.entries
        );
    }
    let mut out = format!(
        "audit log of slot {slot}: FAILED, {} entries checked, {} problem{}:\n",
        report.entries,
        report.problems.len(),
        if report.problems.len() == 1 { "" } else { "s" }
    );
    for p in &report.problems {
        out.push_str(&format!("  seq {}: {}\n", p.seq, p.message));
    }
    out
}

fn write_file(path: &Path, lines: &[String]) -> CliResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let fail =
        |e: std::io::Error| CliError::Failed(format!("cannot write {}: {e}", path.display()));
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(fail)?;
    for l in lines {
        writeln!(f, "{l}").map_err(fail)?;
    }
    f.sync_all().map_err(fail)
}

/// Runs an audit subcommand.
pub fn run(cli: &Cli, action: &AuditAction) -> CliResult<()> {
    let ctx = Ctx::open_token(cli)?;
    let entries = ctx
        .slot
        .store_call(|st| async move { st.audit_entries().await })?;
    match action {
        AuditAction::Verify => {
            let report = chain::verify(&ctx.slot.token_id, &entries);
            print!("{}", render(&report, cli.slot, ctx.json));
            if report.ok {
                Ok(())
            } else {
                Err(CliError::AuditFailed)
            }
        }
        AuditAction::Export { output } => {
            let lines: Vec<String> = entries.iter().map(chain::to_json_line).collect();
            match output {
                None => {
                    let mut out = std::io::stdout().lock();
                    for l in &lines {
                        writeln!(out, "{l}").map_err(|e| {
                            CliError::Failed(format!("cannot write the export: {e}"))
                        })?;
                    }
                }
                Some(path) => {
                    write_file(path, &lines)?;
                    if ctx.json {
                        println!("{}", json!({ "exported": lines.len(), "path": path }));
                    } else {
                        println!(
                            "exported {} audit entries to {}",
                            lines.len(),
                            path.display()
                        );
                    }
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::chain::Problem;

    #[test]
    fn reports_name_each_problem_by_seq() {
        let ok = VerifyReport {
            ok: true,
            entries: 5,
            problems: vec![],
        };
        assert_eq!(
            render(&ok, 0, false),
            "audit log of slot 0: OK, 5 entries, hash chain intact\n"
        );
        let bad = VerifyReport {
            ok: false,
            entries: 5,
            problems: vec![Problem {
                seq: 2,
                kind: ProblemKind::HashMismatch,
                message: "entry 2 was edited".into(),
            }],
        };
        let text = render(&bad, 0, false);
        assert!(
            text.contains("FAILED") && text.contains("  seq 2: entry 2 was edited"),
            "{text}"
        );
        let j: serde_json::Value = serde_json::from_str(&render(&bad, 0, true)).expect("json");
        assert_eq!(j["ok"], false);
        assert_eq!(j["problems"][0]["seq"], 2);
        assert_eq!(j["problems"][0]["kind"], "hash-mismatch");
    }
}
