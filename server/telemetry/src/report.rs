//! The figures people and editors read from the feedback database: `wisp stats`, the `wisp/stats`
//! request and `wisp dataset export`.

use std::path::Path;

use crate::stats::{self, Comparison, GroupBy, Summary};

/// `--since`: a duration back from now ("30m", "12h", "7d", "2w") or "all".
pub fn since_ms(since: Option<&str>, now_ms: i64) -> Result<i64, String> {
    let Some(since) = since.filter(|since| *since != "all") else { return Ok(0) };
    let (number, unit) = since.split_at(since.find(|c: char| !c.is_ascii_digit()).unwrap_or(since.len()));
    let number: i64 = number
        .parse()
        .map_err(|_| format!("--since {since:?}: expected a number and a unit, like 30m, 12h, 7d or 2w"))?;
    let unit_ms = match unit {
        "m" => 60_000,
        "h" => 3_600_000,
        "d" | "" => 86_400_000,
        "w" => 7 * 86_400_000,
        other => return Err(format!("--since {since:?}: unknown unit {other:?} — use m, h, d or w")),
    };
    Ok(now_ms - number * unit_ms)
}

/// The figures as JSON: `{ "database", "since_ms", "groups": [Summary], "comparisons": [..] }`.
pub fn compute(database: &Path, since: Option<&str>, by: Option<&str>) -> Result<serde_json::Value, String> {
    let (summaries, comparisons, since_ms) = figures(database, since, by)?;
    Ok(serde_json::json!({
        "database": database.display().to_string(),
        "sinceMs": since_ms,
        "groups": summaries,
        "comparisons": comparisons,
    }))
}

pub fn figures(
    database: &Path,
    since: Option<&str>,
    by: Option<&str>,
) -> Result<(Vec<Summary>, Vec<Comparison>, i64), String> {
    let group_by = by.map(str::parse::<GroupBy>).transpose()?;
    let since_ms = since_ms(since, crate::event::now_ms())?;
    if !database.exists() {
        return Err(format!(
            "no feedback recorded yet: {} does not exist — turn on \"telemetry.events\" in wisp.toml or your editor's settings",
            database.display()
        ));
    }
    let (store, _) = crate::open(database)?;
    let outcomes = store.outcomes_since(since_ms).map_err(|error| error.to_string())?;
    let summaries = stats::summarize(&outcomes, group_by);
    let comparisons = if group_by == Some(GroupBy::Variant) {
        stats::compare_variants(&summaries, Some(crate::experiment::DEFAULT_VARIANT))
    } else {
        Vec::new()
    };
    Ok((summaries, comparisons, since_ms))
}

#[cfg(test)]
mod tests {
    use super::since_ms;

    #[test]
    fn since_accepts_durations_and_all() {
        let now = 10 * 86_400_000;
        assert_eq!(since_ms(None, now), Ok(0));
        assert_eq!(since_ms(Some("all"), now), Ok(0));
        assert_eq!(since_ms(Some("7d"), now), Ok(3 * 86_400_000));
        assert_eq!(since_ms(Some("12h"), now), Ok(now - 12 * 3_600_000));
        assert!(since_ms(Some("7y"), now).unwrap_err().contains("unknown unit"));
        assert!(since_ms(Some("soon"), now).unwrap_err().contains("expected a number"));
    }
}
