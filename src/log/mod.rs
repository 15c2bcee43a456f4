//! The log users grep: `HH:MM:SS.hh  message ... %%%`, the count of `%` at the right edge
//! being the line's importance (so `grep %%% x.log-psyco` shows what matters), plus the charge
//! dump rows `#rank |pct %|  name  file:line`. The same events can be written as JSON lines.
//!
//! # Invariants
//! - A leaf: takes its own lock only, never calls Python, never blocks on the GIL, so any
//!   thread (sampler, worker, hook, API) may log at any time.
//! - Every event also lands in an in-memory ring of the last [`RECENT`] events, whether or not a
//!   file is open (`psyco.stats()["recent_events"]`).

use std::fs::{File, OpenOptions};
use std::io::Write;

use chrono::{Local, Timelike};
use parking_lot::Mutex;
use ringbuf::traits::{Consumer, RingBuffer};
use ringbuf::HeapRb;

/// Lines are padded so the `%` marks end at this column (as in the original's logs).
pub const WIDTH: usize = 76;
/// How many recent events are kept in memory.
pub const RECENT: usize = 256;

/// One value of a JSON event field.
pub enum Val<'a> {
    Str(&'a str),
    Num(f64),
    Int(i64),
}

struct Logger {
    text: Option<File>,
    json: Option<File>,
    top: usize,
    recent: HeapRb<String>,
}

static LOGGER: Mutex<Option<Logger>> = parking_lot::const_mutex(None);

fn with<R>(f: impl FnOnce(&mut Logger) -> R) -> R {
    let mut g = LOGGER.lock();
    let l = g.get_or_insert_with(|| Logger { text: None, json: None, top: 10, recent: HeapRb::new(RECENT) });
    f(l)
}

/// `HH:MM:SS.hh` of the local time now.
pub fn timestamp() -> String {
    let now = Local::now();
    format!("{:02}:{:02}:{:02}.{:02}", now.hour(), now.minute(), now.second(), now.nanosecond() / 10_000_000 % 100)
}

/// Formats one text line: timestamp, message, `%` marks right-aligned at [`WIDTH`].
pub fn format_line(stamp: &str, msg: &str, importance: usize) -> String {
    let left = format!("{stamp}  {}", sanitize(msg));
    if importance == 0 {
        return left;
    }
    let marks = "%".repeat(importance);
    let used = left.chars().count() + marks.len();
    let pad = if used < WIDTH { WIDTH - used } else { 1 };
    format!("{left}{}{marks}", " ".repeat(pad))
}

/// Formats one charge-dump row like the original: rank, percentage, name, file:line with the
/// file name cut from the left to 20 characters.
pub fn format_dump_row(rank: usize, fraction: f64, name: &str, file: &str, line: i64) -> String {
    let rank_s = format!("#{rank}");
    let fname: String = if file.chars().count() > 20 {
        let tail: String = file.chars().rev().take(17).collect::<Vec<_>>().into_iter().rev().collect();
        format!("...{tail}")
    } else {
        file.to_string()
    };
    // Four characters keep the columns: " 0.8", "95.1", and " 100" for a function holding all.
    let pct = fraction * 100.0;
    let pct_s = if pct >= 99.95 { " 100".to_string() } else { format!("{pct:>4.1}") };
    let name = sanitize(name);
    let fname = sanitize(&fname);
    format!("        {rank_s:<5}|{pct_s} %|  {name:<26}{fname:>20}:{line}")
}

/// Makes text safe for one log line: control characters (a newline in a file name, say)
/// are written as escapes so that every event stays on its own line.
pub fn sanitize(s: &str) -> std::borrow::Cow<'_, str> {
    if !s.chars().any(|c| c.is_control()) {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut o = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if c.is_control() => o.push_str(&format!("\\x{:02x}", c as u32)),
            c => o.push(c),
        }
    }
    std::borrow::Cow::Owned(o)
}

fn json_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn epoch_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

/// Builds one JSON object line for an event.
pub fn format_json(stamp: &str, event: &str, importance: usize, msg: &str, fields: &[(&str, Val<'_>)]) -> String {
    let epoch = epoch_seconds();
    let mut o = format!(
        "{{\"t\":{epoch:.3},\"time\":{},\"event\":{},\"importance\":{importance},\"msg\":{}",
        json_escape(stamp),
        json_escape(event),
        json_escape(msg)
    );
    for (k, v) in fields {
        o.push(',');
        o.push_str(&json_escape(k));
        o.push(':');
        match v {
            Val::Str(s) => o.push_str(&json_escape(s)),
            Val::Num(x) if x.is_finite() => o.push_str(&format!("{x}")),
            Val::Num(_) => o.push_str("null"),
            Val::Int(i) => o.push_str(&i.to_string()),
        }
    }
    o.push('}');
    o
}

/// Opens the log (truncating or appending) and writes the "Logging started" line.
/// `json` names an optional second file for JSON lines.
pub fn open(path: &str, append: bool, top: usize, json: Option<&str>) -> std::io::Result<()> {
    let mut opts = OpenOptions::new();
    opts.create(true);
    if append {
        opts.append(true);
    } else {
        opts.write(true).truncate(true);
    }
    let text = opts.open(path)?;
    let json = match json {
        Some(p) => Some(opts.open(p)?),
        None => None,
    };
    with(|l| {
        l.text = Some(text);
        l.json = json;
        l.top = top;
    });
    let date = Local::now().format("%m/%d/%y").to_string();
    event("log_start", 20, &format!("Logging started, {date}"), &[("path", Val::Str(path))]);
    Ok(())
}

/// Closes the log files (after an optional last line).
pub fn close() {
    with(|l| {
        if let Some(f) = l.text.as_mut() {
            let _ = f.flush();
        }
        l.text = None;
        l.json = None;
    });
}

pub fn is_open() -> bool {
    with(|l| l.text.is_some() || l.json.is_some())
}

/// How many rows the periodic charge dump shows.
pub fn top() -> usize {
    with(|l| l.top)
}

/// Logs one event: a text line of the given importance and a JSON object with `fields`.
pub fn event(kind: &str, importance: usize, msg: &str, fields: &[(&str, Val<'_>)]) {
    let stamp = timestamp();
    let line = format_line(&stamp, msg, importance);
    with(|l| {
        l.recent.push_overwrite(format!("{stamp}  {}", sanitize(msg)));
        if let Some(f) = l.text.as_mut() {
            let _ = writeln!(f, "{line}");
            let _ = f.flush();
        }
        if let Some(f) = l.json.as_mut() {
            let _ = writeln!(f, "{}", format_json(&stamp, kind, importance, msg, fields));
            let _ = f.flush();
        }
    });
}

/// After fork, in the child: release the log's lock if another thread held it.
pub fn after_fork_child() {
    crate::ffi::unlock_after_fork(&LOGGER);
}

/// One row of a charge dump.
pub struct DumpRow {
    pub name: String,
    pub file: String,
    pub line: i64,
    pub fraction: f64,
}

/// Writes a charge dump: a `______` line then one row per function.
pub fn dump(rows: &[DumpRow]) {
    let stamp = timestamp();
    with(|l| {
        if let Some(f) = l.text.as_mut() {
            let _ = writeln!(f, "{stamp}   ______");
            for (i, r) in rows.iter().enumerate() {
                let _ = writeln!(f, "{}", format_dump_row(i + 1, r.fraction, &r.name, &r.file, r.line));
            }
            let _ = f.flush();
        }
        if let Some(f) = l.json.as_mut() {
            let mut o = format!(
                "{{\"t\":{:.3},\"time\":{},\"event\":\"charges\",\"importance\":0,\"rows\":[",
                epoch_seconds(),
                json_escape(&stamp)
            );
            for (i, r) in rows.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                o.push_str(&format!(
                    "{{\"rank\":{},\"pct\":{:.3},\"name\":{},\"file\":{},\"line\":{}}}",
                    i + 1,
                    r.fraction * 100.0,
                    json_escape(&r.name),
                    json_escape(&r.file),
                    r.line
                ));
            }
            o.push_str("]}");
            let _ = writeln!(f, "{o}");
            let _ = f.flush();
        }
    });
}

/// The last events (oldest first), as "HH:MM:SS.hh  message".
pub fn recent() -> Vec<String> {
    with(|l| l.recent.iter().cloned().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_marks_end_at_the_width() {
        let l = format_line("11:33:53.62", "tag function: update", 1);
        assert_eq!(l.len(), WIDTH);
        assert!(l.ends_with(" %"));
        let l = format_line("11:33:53.19", "Logging started, 12/22/02", 20);
        assert_eq!(l, "11:33:53.19  Logging started, 12/22/02                  %%%%%%%%%%%%%%%%%%%%");
    }

    #[test]
    fn long_messages_keep_one_space_before_marks() {
        let msg = "x".repeat(100);
        let l = format_line("00:00:00.00", &msg, 3);
        assert!(l.ends_with(&format!("{msg} %%%")));
    }

    #[test]
    fn dump_rows_match_the_original_layout() {
        assert_eq!(
            format_dump_row(1, 0.951, "active_start", "...psyco\\profiler.py", 258),
            "        #1   |95.1 %|  active_start              ...psyco\\profiler.py:258"
        );
        assert_eq!(
            format_dump_row(3, 0.008, "?", "bpnn.py", 8),
            "        #3   | 0.8 %|  ?                                      bpnn.py:8"
        );
        assert_eq!(
            format_dump_row(10, 0.01, "test", "/a/very/long/path/to/lib/random.py", 1),
            "        #10  | 1.0 %|  test                      .../to/lib/random.py:1"
        );
    }

    #[test]
    fn a_function_holding_everything_keeps_the_columns() {
        let full = format_dump_row(1, 1.0, "f", "a.py", 3);
        let part = format_dump_row(1, 0.5, "f", "a.py", 3);
        assert_eq!(full.len(), part.len());
        assert!(full.contains("| 100 %|"));
    }

    #[test]
    fn control_characters_never_split_a_line() {
        let l = format_line("00:00:00.00", "tag function: a\nb\x07", 1);
        assert!(!l.contains('\n'));
        assert!(l.contains("a\\nb\\x07"));
        let r = format_dump_row(1, 0.5, "x\ny", "f\r.py", 1);
        assert!(!r.contains('\n') && !r.contains('\r'));
    }

    #[test]
    fn json_is_escaped() {
        let j = format_json("00:00:00.00", "ev", 2, "a \"q\"\n", &[("n", Val::Int(3)), ("x", Val::Num(f64::NAN))]);
        assert!(j.contains("\"msg\":\"a \\\"q\\\"\\n\""));
        assert!(j.contains("\"n\":3"));
        assert!(j.contains("\"x\":null"));
        assert!(j.starts_with('{') && j.ends_with('}'));
    }

    #[test]
    fn timestamp_shape() {
        let t = timestamp();
        assert_eq!(t.len(), 11);
        assert_eq!(&t[2..3], ":");
        assert_eq!(&t[8..9], ".");
    }
}
