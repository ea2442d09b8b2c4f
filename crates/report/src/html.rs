//! The page: inline CSS, inline SVG charts, one inline JSON blob with the rows, a small
//! inline script for the tooltip. A Content-Security-Policy forbids every network request.

use std::collections::BTreeMap;
use std::io::{self, Write};

use base64::Engine as _;
use kvs_chunk::analysis::{RowStatus, Totals, secs};
use kvs_chunk::{Track, TrackType};
use serde_json::{Value, json};

use crate::charts::{self, Axis, Series};
use crate::{ReportBuilder, ReportRow, status_word};

const STYLE: &str = r#"
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:16px 24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px}
h2{font-size:15px;margin:18px 0 6px}
.summary{margin:2px 0 10px}
.ok{color:#2a7d2a}.warn{color:#b36b00}
table{border-collapse:collapse;background:#fff}
td,th{border:1px solid #ddd;padding:2px 8px;text-align:left;font-variant-numeric:tabular-nums}
.grid{display:flex;gap:24px;flex-wrap:wrap;align-items:flex-start}
.chart{background:#fff;border:1px solid #ddd;margin:8px 0;width:1200px}
.chart svg{display:block}
.frag{fill:#4a90d9;stroke:none}
.frag.incomplete{fill:#e0a000}
.frag.error{fill:#d62728}
.frag.plain{fill:#7f8c8d}
.frag.damaged{fill:#9b59b6}
.frag.finding{stroke:#d62728;stroke-width:1}
.frag:hover,.frag.hl{fill:#111}
.thumbs{display:flex;gap:4px;overflow-x:auto;width:1200px;padding:4px 0;background:#fff;border:1px solid #ddd}
.thumbs figure{margin:0;flex:none;text-align:center;font-size:11px;color:#555}
.thumbs img{display:block;height:72px}
#tip{position:fixed;pointer-events:none;background:#fff;border:1px solid #888;box-shadow:0 2px 6px rgba(0,0,0,.25);padding:6px 8px;font-size:12px;max-width:420px;z-index:10}
#tip img{display:block;max-width:200px;margin-top:4px}
#tip .k{color:#666}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.notes li{color:#b36b00}
"#;

const SCRIPT: &str = r#"
(function(){
var data=JSON.parse(document.getElementById('kvs-report-data').textContent);
var tip=document.getElementById('tip');var A='data-'+'fragment';
function line(k,v){var d=document.createElement('div');var s=document.createElement('span');s.className='k';s.textContent=k+': ';d.appendChild(s);d.appendChild(document.createTextNode(v));tip.appendChild(d);}
function t(ms){if(ms===null||ms===undefined)return '-';if(ms<94608000000)return '+'+(ms/1000).toFixed(3)+' s';return new Date(ms).toISOString().replace('T',' ').replace('Z','');}
function show(el,ev){
  var r=data.rows[+el.getAttribute(A)];if(!r)return;
  tip.textContent='';
  line('fragment','#'+r.row+(r.fragment_number?' '+r.fragment_number:''));
  line('status',r.status+(r.error?' '+r.error:'')+(r.damaged?', damaged':'')+(r.cut?', not read to its end':''));
  line('producer time',t(r.producer_timestamp_ms));
  line('server time',t(r.server_timestamp_ms));
  line('duration',(r.duration_ms/1000).toFixed(3)+' s');
  line('frames',r.frames+' ('+r.keyframes+' keyframes)');
  line('size',r.bytes+' bytes');
  if(r.millis_behind_now!==null)line('millis behind now',r.millis_behind_now);
  if(r.clock_offset_ms!==null)line('server - producer',(r.clock_offset_ms/1000).toFixed(3)+' s');
  r.findings.forEach(function(f){line('finding',f);});
  r.tags.forEach(function(g){line('tag '+g[0],g[1]);});
  if(r.thumbnail!==null){var src=document.getElementById('th'+r.thumbnail);if(src){var i=document.createElement('img');i.src=src.src;tip.appendChild(i);}}
  tip.hidden=false;move(ev);
}
function move(ev){var x=ev.clientX+14,y=ev.clientY+14;var w=tip.offsetWidth,h=tip.offsetHeight;if(x+w>innerWidth)x=ev.clientX-w-14;if(y+h>innerHeight)y=ev.clientY-h-14;tip.style.left=Math.max(0,x)+'px';tip.style.top=Math.max(0,y)+'px';}
document.addEventListener('mouseover',function(ev){var el=ev.target.closest&&ev.target.closest('['+A+']');if(el)show(el,ev);else tip.hidden=true;});
document.addEventListener('mousemove',function(ev){if(!tip.hidden)move(ev);});
document.querySelectorAll('.thumbs figure').forEach(function(f){f.addEventListener('mouseenter',function(){var m=document.querySelector('['+A+'="'+f.getAttribute('data-row')+'"]');if(m)m.classList.add('hl');});f.addEventListener('mouseleave',function(){document.querySelectorAll('.hl').forEach(function(m){m.classList.remove('hl');});});});
window.kvsReportRendered=performance.now();
})();
"#;

/// `s` as HTML text or attribute value: `&`, `<`, `>`, `"` and `'` as entities, control
/// characters other than newline and tab replaced by U+FFFD.
///
/// ```
/// assert_eq!(kvs_report::escape_html("<a href='x'>"), "&lt;a href=&#39;x&#39;&gt;");
/// ```
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn row_json(i: usize, r: &ReportRow) -> Value {
    let row = &r.row;
    let error = match &row.status {
        RowStatus::Error(e) => {
            let id = e.id.map_or_else(|| e.raw_id.clone().unwrap_or_default(), |i| i.code().to_string());
            Some(format!("{id} {}", e.code.as_deref().unwrap_or("")).trim().to_owned())
        }
        _ => None,
    };
    json!({
        "i": i,
        "row": row.row,
        "fragment_number": row.fragment_number.as_ref().map(|n| n.as_str().to_owned()),
        "offset": row.offset,
        "producer_timestamp_ms": row.producer_timestamp_ms,
        "server_timestamp_ms": row.server_timestamp_ms,
        "duration_ns": row.duration_ns,
        "duration_ms": row.duration_ms(),
        "frames": row.frames,
        "keyframes": row.keyframes,
        "bytes": row.bytes,
        "millis_behind_now": row.millis_behind_now,
        "status": status_word(&row.status),
        "error": error,
        "damaged": row.damaged,
        "cut": row.cut,
        "findings": row.findings.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "clock_offset_ms": row.clock_offset_ms(),
        "at_ms": r.at_ms,
        "tracks": r.tracks.iter().map(|t| json!({
            "track": t.track,
            "frames": t.frames,
            "keyframes": t.keyframes,
            "bytes": t.bytes,
            "max_frame_bytes": t.max_frame_bytes,
            "max_keyframe_interval_ms": t.max_keyframe_interval_ms,
        })).collect::<Vec<_>>(),
        "tags": r.tags.iter().map(|(n, v)| json!([n, v])).collect::<Vec<_>>(),
        "thumbnail": r.thumbnail,
    })
}

/// The page's JSON without its rows.
fn data_head(b: &ReportBuilder) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("dropped".into(), json!(b.dropped));
    m.insert("title".into(), json!(b.options.title));
    m.insert(
        "tracks".into(),
        b.tracks
            .iter()
            .map(|t| json!({ "number": t.number, "kind": kind(t), "codec_id": t.codec_id }))
            .collect(),
    );
    m
}

pub(crate) fn data(b: &ReportBuilder) -> Value {
    let mut m = data_head(b);
    m.insert("rows".into(), b.rows.iter().enumerate().map(|(i, r)| row_json(i, r)).collect());
    Value::Object(m)
}

fn kind(t: &Track) -> &'static str {
    match t.kind {
        TrackType::Video => "video",
        TrackType::Audio => "audio",
        TrackType::Subtitle => "subtitle",
        TrackType::Metadata => "metadata",
        _ => "other",
    }
}

fn track_label(tracks: &[Track], n: u64) -> String {
    match tracks.iter().find(|t| t.number == n) {
        Some(t) => format!(
            "track {n} ({}{})",
            kind(t),
            t.codec_id.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
        ),
        None => format!("track {n}"),
    }
}

/// `502.3 KiB`.
fn size(bytes: u64) -> String {
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1024.0;
    for unit in ["KiB", "MiB", "GiB"] {
        if v < 1024.0 {
            return format!("{v:.1} {unit}");
        }
        v /= 1024.0;
    }
    format!("{v:.1} TiB")
}

/// Per-track series of the rows: `f(row, tally)` per track, in track order.
fn per_track(
    rows: &[&ReportRow],
    axis: Axis,
    tracks: &[Track],
    label: &str,
    keep: impl Fn(u64) -> bool,
    f: impl Fn(&ReportRow, &kvs_chunk::analysis::TrackTally) -> Option<f64>,
) -> Vec<Series> {
    let mut by_track: BTreeMap<u64, Vec<(f64, f64)>> = BTreeMap::new();
    for r in rows {
        for t in &r.tracks {
            if !keep(t.track) || by_track.len() >= 16 && !by_track.contains_key(&t.track) {
                continue;
            }
            if let Some(y) = f(r, t) {
                by_track.entry(t.track).or_default().push((axis.x(r.at_ms), y));
            }
        }
    }
    by_track
        .into_iter()
        .enumerate()
        .map(|(i, (n, points))| Series {
            label: format!("{}{label}", track_label(tracks, n)),
            colour: charts::colour(i),
            points,
        })
        .collect()
}

pub(crate) fn write(b: &ReportBuilder, totals: &Totals, out: &mut dyn Write) -> io::Result<()> {
    let rows: Vec<&ReportRow> = b.rows.iter().collect();
    let axis = Axis::of(&rows);
    let title = escape(&b.options.title);
    write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">\
<meta name=\"viewport\" content=\"width=device-width\"><title>{title}: kvs-mkv report</title><style>{STYLE}</style></head><body>\n"
    )?;
    writeln!(out, "<h1>{title}</h1>")?;
    summary(b, totals, out)?;
    tracks_table(b, out)?;

    // (1) The timeline, with thumbnails' ticks and strip.
    let thumbs: Vec<(usize, i64)> =
        b.thumbnails.iter().enumerate().filter_map(|(i, t)| Some((i, t.as_ref()?.at_ms))).collect();
    writeln!(
        out,
        "<h2>Fragments</h2><div class=\"legend\">\
<span style=\"background:#4a90d9\"></span>complete<span style=\"background:#e0a000\"></span>incomplete\
<span style=\"background:#d62728\"></span>in-stream error<span style=\"background:#9b59b6\"></span>damaged or cut\
<span style=\"background:rgba(214,39,40,.25)\"></span>gap in producer time<span style=\"background:#ff7f0e;width:3px\"></span>timestamps restart\
<span style=\"background:#777;width:1px\"></span>server arrival (shifted by the first clock offset)</div>"
    )?;
    writeln!(out, "<div class=\"chart\" id=\"timeline\">{}</div>", charts::timeline(&rows, axis, &thumbs))?;
    if !thumbs.is_empty() {
        writeln!(out, "<div class=\"thumbs\">")?;
        let row_of: BTreeMap<usize, usize> =
            rows.iter().enumerate().filter_map(|(i, r)| Some((r.thumbnail?, i))).collect();
        for (i, at) in &thumbs {
            let Some(Some(t)) = b.thumbnails.get(*i) else { continue };
            let data = base64::engine::general_purpose::STANDARD.encode(&t.jpeg);
            let row = row_of.get(i).map_or_else(String::new, |r| format!(" data-row=\"{r}\""));
            writeln!(
                out,
                "<figure{row}><img id=\"th{i}\" alt=\"\" src=\"data:image/jpeg;base64,{data}\"><figcaption>{:.1} s</figcaption></figure>",
                axis.x(*at)
            )?;
        }
        writeln!(out, "</div>")?;
    }

    // (2) Lag.
    let lag: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((axis.x(r.at_ms), r.row.millis_behind_now? as f64 / 1000.0)))
        .collect();
    let lag = vec![Series { label: "millis behind now".into(), colour: charts::colour(0), points: lag }];
    writeln!(
        out,
        "<div class=\"chart\">{}</div>",
        charts::lines("Millis behind now", "seconds", axis, lag, true)
    )?;

    // (3) Bitrate and frame sizes per track.
    let bitrate = per_track(
        &rows,
        axis,
        &b.tracks,
        "",
        |_| true,
        |r, t| {
            let ms = r.row.duration_ms();
            (ms > 0).then(|| t.bytes as f64 * 8.0 / ms as f64)
        },
    );
    writeln!(
        out,
        "<div class=\"chart\">{}</div>",
        charts::lines("Bitrate per track", "kbit/s", axis, bitrate, true)
    )?;
    let mut sizes = per_track(
        &rows,
        axis,
        &b.tracks,
        " mean",
        |_| true,
        |_, t| (t.frames > 0).then(|| t.mean_frame_bytes() as f64 / 1024.0),
    );
    let largest = per_track(
        &rows,
        axis,
        &b.tracks,
        " largest",
        |_| true,
        |_, t| (t.frames > 0).then(|| t.max_frame_bytes as f64 / 1024.0),
    );
    let n = sizes.len();
    sizes.extend(
        largest
            .into_iter()
            .enumerate()
            .map(|(i, s)| Series { colour: charts::colour(i.saturating_add(n)), ..s }),
    );
    writeln!(
        out,
        "<div class=\"chart\">{}</div>",
        charts::lines("Frame sizes per track (mean and largest per fragment)", "KiB", axis, sizes, true)
    )?;

    // (4) Keyframe intervals: video tracks (or, without track types, tracks that have frames
    // other than keyframes).
    let video: Vec<u64> = b.tracks.iter().filter(|t| t.kind == TrackType::Video).map(|t| t.number).collect();
    let not_all_key: Vec<u64> = {
        let mut m: BTreeMap<u64, bool> = BTreeMap::new();
        for r in &rows {
            for t in &r.tracks {
                *m.entry(t.track).or_insert(false) |= t.keyframes < t.frames;
            }
        }
        m.into_iter().filter_map(|(k, v)| v.then_some(k)).collect()
    };
    let keys = per_track(
        &rows,
        axis,
        &b.tracks,
        "",
        |n| if video.is_empty() { not_all_key.contains(&n) } else { video.contains(&n) },
        |_, t| Some(t.max_keyframe_interval_ms? as f64 / 1000.0),
    );
    writeln!(
        out,
        "<div class=\"chart\">{}</div>",
        charts::lines("Keyframe interval (longest per fragment)", "seconds", axis, keys, true)
    )?;

    // (5) Clock offset.
    let offset: Vec<(f64, f64)> = rows
        .iter()
        .filter_map(|r| Some((axis.x(r.at_ms), r.row.clock_offset_ms()? as f64 / 1000.0)))
        .collect();
    let offset =
        vec![Series { label: "server − producer".into(), colour: charts::colour(3), points: offset }];
    writeln!(
        out,
        "<div class=\"chart\">{}</div>",
        charts::lines(
            "Producer-to-server clock offset (upload delay and drift)",
            "seconds",
            axis,
            offset,
            false
        )
    )?;

    writeln!(out, "<div id=\"tip\" hidden></div>")?;
    // The same JSON as `data`, written a row at a time (no tree of every row in memory);
    // `<` as \u003c: the JSON cannot close its script element.
    let safe = |v: &Value| v.to_string().replace('<', "\\u003c");
    write!(out, "<script type=\"application/json\" id=\"kvs-report-data\">{{")?;
    for (k, v) in data_head(b) {
        write!(out, "{}:{},", safe(&Value::String(k)), safe(&v))?;
    }
    write!(out, "\"rows\":[")?;
    for (i, r) in b.rows.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(safe(&row_json(i, r)).as_bytes())?;
    }
    writeln!(out, "]}}</script>")?;
    writeln!(out, "<script>{SCRIPT}</script>")?;
    writeln!(
        out,
        "<p style=\"color:#888;font-size:12px\">kvs-mkv inspect --html; the numbers are those <code>kvs-mkv inspect</code> prints.</p>"
    )?;
    writeln!(out, "</body></html>")?;
    out.flush()
}

fn summary(b: &ReportBuilder, t: &Totals, out: &mut dyn Write) -> io::Result<()> {
    let kvs = t.kvs_fragments();
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let mut problems = Vec::new();
    if t.gaps > 0 {
        problems.push(format!(
            "{} in producer time ({} missing)",
            plural(t.gaps, "gap", "gaps"),
            secs(t.gap_ms)
        ));
    }
    if t.jumps > 0 {
        problems.push(plural(t.jumps, "timestamp jump or restart", "timestamp jumps or restarts"));
    }
    if t.incomplete > 0 {
        problems.push(plural(t.incomplete, "incomplete fragment", "incomplete fragments"));
    }
    if t.errors > 0 {
        problems.push(plural(t.errors, "in-stream error", "in-stream errors"));
    }
    if t.damaged > 0 {
        problems.push(format!("{} damaged", t.damaged));
    }
    if t.cut > 0 {
        problems.push(format!("{} not read to its end", plural(t.cut, "fragment", "fragments")));
    }
    if t.resyncs > 0 {
        problems.push(plural(t.resyncs, "resynchronisation", "resynchronisations"));
    }
    writeln!(
        out,
        "<p class=\"summary\">{} fragments ({} KVS, {} complete), {} frames, {} of frame data, {} of media. {}</p>",
        t.fragments,
        kvs,
        t.complete,
        t.frames,
        size(t.bytes),
        secs(t.media_ns.div_euclid(1_000_000)),
        if problems.is_empty() {
            "<span class=\"ok\">No gaps, no timestamp jumps, nothing incomplete.</span>".to_owned()
        } else {
            format!("<span class=\"warn\">{}</span>", escape(&problems.join("; ")))
        }
    )?;
    if b.dropped > 0 {
        writeln!(
            out,
            "<p class=\"warn\">The {} earliest fragments are not shown (the report holds the last {}).</p>",
            b.dropped,
            b.rows.len()
        )?;
    }
    if !b.notes.is_empty() {
        writeln!(out, "<ul class=\"notes\">")?;
        for n in &b.notes {
            writeln!(out, "<li>{}</li>", escape(n))?;
        }
        writeln!(out, "</ul>")?;
    }
    Ok(())
}

fn tracks_table(b: &ReportBuilder, out: &mut dyn Write) -> io::Result<()> {
    if b.tracks.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "<table><tr><th>track</th><th>kind</th><th>codec</th><th>size / rate</th><th>name</th></tr>"
    )?;
    for t in &b.tracks {
        let detail = match (t.video, t.audio) {
            (Some(v), _) => format!("{}x{}", v.width.unwrap_or(0), v.height.unwrap_or(0)),
            (None, Some(a)) => a.sampling_frequency.map(|f| format!("{f} Hz")).unwrap_or_default(),
            _ => String::new(),
        };
        writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            t.number,
            kind(t),
            escape(t.codec_id.as_deref().unwrap_or("?")),
            escape(&detail),
            escape(t.name.as_deref().unwrap_or(""))
        )?;
    }
    writeln!(out, "</table>")
}
