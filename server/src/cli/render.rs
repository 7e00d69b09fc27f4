//! What `thor cutover status` and `history` print: the seeds' lines, then tables.

use super::*;

/// Tables wrap to this many columns (the output often goes to a file or a CI log, not a tty).
pub(super) const TABLE_WIDTH: u16 = 110;

pub(super) fn age(ms: Option<u64>) -> String {
    match ms {
        None => "—".into(),
        Some(ms) if ms < 1_000 => format!("{ms} ms"),
        Some(ms) if ms < 120_000 => format!("{:.1} s", ms as f64 / 1000.0),
        Some(ms) => format!("{} min", ms / 60_000),
    }
}

pub(super) fn stage_note(f: &FeatureStatus) -> String {
    if f.overridden {
        format!(
            "(set at run time by {}: {})",
            f.changed_by.as_deref().unwrap_or("?"),
            f.reason.as_deref().unwrap_or("")
        )
    } else if f.flag.stage == Stage::Live {
        format!("({}=true)", f.variable)
    } else {
        format!("(set {}=true to enable)", f.variable)
    }
}

/// What `thor cutover status` prints: the seeds' header and lines, then the evidence.
pub fn render_status(status: &CutoverStatus) -> String {
    let mut out = String::new();
    out.push_str("🔌 WebSocket Cutover Status\n");
    out.push_str("==========================================================\n");
    out.push_str(status.mode.headline());
    out.push('\n');
    let rule = &status.gate_rule;
    out.push_str(&format!(
        "Flags version {} · gate: match rate ≥ {:.1} % (95 % lower bound) over {} samples from {} pages\n\n",
        status.flags.version,
        rule.min_match_rate * 100.0,
        rule.min_samples,
        rule.min_pages
    ));
    out.push_str("Per-Feature Status:\n");
    for f in &status.features {
        let mark = match f.mark {
            Mark::Ws => "✅ WS",
            Mark::Rest => "⚪ REST",
            Mark::Transitioning => "⚡ Transitioning",
        };
        let ramp = if f.flag.is_partial() {
            format!(" {} %", f.flag.ramp)
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {mark:<17} {:<16} {}{ramp} {}\n",
            f.feature.name(),
            f.flag.stage,
            stage_note(f)
        ));
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TABLE_WIDTH)
        .set_header([
            "feature",
            "parity (matched/samples)",
            "gate",
            "pages ws/rest/fallback/unconfirmed",
            "last update",
            "REST 5 min",
        ]);
    for f in &status.features {
        let samples = f.parity.samples();
        let parity = if samples == 0 {
            "no samples".to_string()
        } else {
            format!(
                "{}/{} ({:.2} %, ≥{:.2} %), {} missing",
                f.parity.matched,
                samples,
                f.parity.matched as f64 * 100.0 / samples as f64,
                f.gate.lower_bound * 100.0,
                f.parity.missing_on_ws
            )
        };
        let gate = match f.gate.missing.as_slice() {
            [] => "open".to_string(),
            [only] => format!("closed: {only}"),
            [first, rest @ ..] => format!("closed: {first} (+{} more)", rest.len()),
        };
        table.add_row([
            f.feature.name().to_string(),
            parity,
            gate,
            format!(
                "{}/{}/{}/{}",
                f.pages.websocket, f.pages.rest, f.pages.fallen_back, f.pages.unconfirmed
            ),
            age(f.last_update_age_ms),
            f.rest_requests_5m.to_string(),
        ]);
    }
    out.push('\n');
    out.push_str(&table.to_string());
    out.push('\n');
    if let (Some(p50), Some(max)) = (status.propagation_p50_ms, status.propagation_max_ms) {
        out.push_str(&format!(
            "Flag changes reached pages in {p50} ms (median), {max} ms (worst) lately.\n"
        ));
    }
    out.push_str(&render_instances(status));
    for f in &status.features {
        if f.flag.stage == Stage::Shadow && f.gate.missing.len() > 1 {
            out.push_str(&format!(
                "{} may go live after: {}\n",
                f.feature.name(),
                f.gate.missing.join("; ")
            ));
        }
    }
    let attention = status.needs_attention();
    if attention.is_empty() {
        out.push_str("Nothing needs attention.\n");
    } else {
        out.push_str("Needs attention:\n");
        for note in attention {
            out.push_str(&format!("  - {note}\n"));
        }
    }
    out
}

/// The instances serving now (the figures above are their sums), lease holder first.
pub(super) fn render_instances(status: &CutoverStatus) -> String {
    if status.instances.is_empty() {
        return String::new();
    }
    let now = crate::clock::now_ms();
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TABLE_WIDTH)
        .set_header(["instance", "role", "flags version", "sockets", "last seen"]);
    for i in &status.instances {
        let role = match (i.lease_holder, i.answering) {
            (true, true) => "★ lease holder (answered)",
            (true, false) => "★ lease holder",
            (false, true) => "follower (answered)",
            (false, false) => "follower",
        };
        table.add_row([
            i.addr.clone(),
            role.to_string(),
            i.flags_version.map_or("—".into(), |v| v.to_string()),
            i.sockets.to_string(),
            format!(
                "{} ago",
                age(Some(u64::try_from(now - i.last_seen).unwrap_or(0)))
            ),
        ]);
    }
    format!(
        "Instances ({} serving; REST requests and propagation above are summed over them):\n{table}\n",
        status.instances.len()
    )
}

/// What `thor cutover audit` prints.
pub fn render_audit(entries: &[AuditEntry]) -> String {
    if entries.is_empty() {
        return "No changes yet: every feature is at its WS_FEATURE_* stage.\n".into();
    }
    let mut table = Table::new();
    table
        .load_style(UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(TABLE_WIDTH)
        .set_header([
            "version",
            "when (UTC)",
            "who",
            "feature",
            "change",
            "why",
            "evidence",
        ]);
    // Names and stages never wrap; the reason and the evidence take what is left.
    for (index, column) in table.column_iter_mut().enumerate() {
        if matches!(index, 0 | 2 | 3 | 4) {
            column.set_constraint(ColumnConstraint::ContentWidth);
        }
    }
    for e in entries {
        let when = chrono::DateTime::from_timestamp_millis(e.at)
            .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
            .unwrap_or_default();
        let who = e.who();
        table.add_row([
            e.version.to_string(),
            when,
            who,
            e.feature.name().to_string(),
            format!("{} → {}", e.from.stage, e.to.stage),
            e.reason.clone(),
            e.evidence_summary(),
        ]);
    }
    format!("{table}\n")
}
