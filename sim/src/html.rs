//! A picture of a run: one self-contained HTML page that draws a trace as a sequence diagram.
//!
//! [`render`] is a pure function of the trace and its violations, like the checkers. The page
//! needs nothing but a browser: inline CSS, an inline SVG, a small inline script, no network.
//!
//! The picture:
//!
//! - a vertical **lifeline** per node, in the order the nodes first appear in the trace (the
//!   [`SIM`] pseudo-node gets none: its events are bands and rules across the lanes);
//! - **one row per event**, in trace order, down the page. Rows rather than a virtual-time scale:
//!   the trace's order is the order things happened in, many events share one timestamp (a
//!   delivery, the `exec` it starts and the reply it sends), and a violation names an event by
//!   its index, so every event gets a row of its own that the pointer can reach. Virtual time is
//!   in the ruler on the left, and an idle stretch (no event for [`GAP_US`]) gets a little extra
//!   space and its length, so time still shows without thousands of empty pixels;
//! - an **arrow per frame copy**, from the sender's lifeline at its `Send` row to the receiver's
//!   at its `Deliver` row (`Send` and `Deliver` matched on `conn`, `dir`, `index`), coloured by
//!   frame kind; a duplicate copy is dotted, a delayed frame dashed, a reordered arrival ringed;
//!   a dropped frame is a short stub from the sender ending in an X; a frame the network
//!   scheduled but never delivered (its connection closed first) ends in a hollow X;
//! - a **partition** (`LinkCut` .. `LinkHeal`, or `Healed`) as a shaded band between the two
//!   lifelines; a **crash** as an X on the lifeline, hatched while the node is down, a triangle
//!   where it restarts; workload **calls** (`CallStart`, `CallEnd`) as labels beside the caller;
//! - every **violation** as a red row with a callout carrying its message, linked from the top
//!   of the page; the arrow of a frame event that proves one is red.
//!
//! The event under the pointer is described in a panel fixed at the bottom of the window (for a
//! frame: kind, `seq`, `target.method`, bytes, virtual times, fate; for every event its trace
//! line). Click pins it; `j`/`k` step through the events, `n`/`p` through the violations.
//!
//! Every string from the trace (node names, methods, guests' output, messages) is escaped:
//! [`escape`] where it reaches HTML, `json_string` where it reaches the script's data. The
//! page grows linearly with the events (a bounded number of elements per event, the script's
//! data one entry per event) and the script does constant or logarithmic work per pointer move.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::check::{self, Violation};
use crate::trace::{Dir, EventKind, Expected, Fate, FrameInfo, Outcome, SIM, Trace};

// ---- layout, in CSS pixels ----

/// The height of one event's row.
const ROW_PX: i64 = 14;
/// The extra space an idle gap adds between two rows.
const GAP_PX: i64 = 16;
/// How long no event may happen before the gap is drawn as idle time, in virtual µs.
pub const GAP_US: u64 = 200_000;
/// Space above the first row.
const TOP_PX: i64 = 10;
/// Space below the last row.
const BOTTOM_PX: i64 = 40;
/// The ruler on the left: event index and virtual time.
const RULER_PX: i64 = 112;
/// Room for call labels left of the first lifeline.
const LABELS_PX: i64 = 250;
/// The distance between two lifelines.
const LANE_PX: i64 = 250;
/// The gap between the last lifeline and the notes column (violation callouts).
const NOTES_GAP_PX: i64 = 70;
/// The notes column's width.
const NOTES_PX: i64 = 430;
/// How far a dropped frame's stub reaches from its sender.
const DROP_STUB_PX: i64 = 34;

// ---- limits on text ----

/// The longest label beside a lifeline (call, output), in characters: it must fit in a lane.
pub const LABEL_CHARS_MAX: usize = 36;
/// The most violations the top of the page lists (each is still marked in the diagram).
pub const VIOLATIONS_LISTED_MAX: usize = 50;
/// The fewest rows between two time labels on the ruler (unless a gap or a violation).
const RULER_LABEL_ROWS_MIN: usize = 4;
/// How many characters of a message surely fit on one line of a callout (fewer than do).
const CALLOUT_LINE_CHARS: usize = 48;
/// The most lines of a message a callout shows before it is pointed at.
const CALLOUT_MESSAGE_LINES_MAX: usize = 3;
/// A callout's padding and borders, top and bottom together.
const CALLOUT_PADDING_PX: i64 = 14;
/// The height of a callout's line.
const CALLOUT_LINE_PX: i64 = 16;

/// Frame kinds and their colours, in legend order.
const KINDS: [(&str, &str); 6] = [
    ("call", "#2563eb"),
    ("reply", "#16a34a"),
    ("failure", "#ea580c"),
    ("cancel", "#9333ea"),
    ("hello", "#94a3b8"),
    ("malformed", "#111827"),
];

/// Writes formatted text into a `String` (which cannot fail).
macro_rules! w {
    ($out:expr, $($arg:tt)*) => {{
        let _ = write!($out, $($arg)*);
    }};
}

/// The page for `trace`, with `violations` marked, titled `title`.
pub fn render(trace: &Trace, violations: &[Violation], title: &str) -> String {
    let picture = Picture::new(trace, violations);
    let mut page = String::with_capacity(4096 + trace.events.len() * 320);
    write_head(&mut page, title);
    write_header(&mut page, &picture, title);
    write_lane_bar(&mut page, &picture);
    write_chart(&mut page, &picture);
    page.push_str("<div id=\"panel\">Point at an event or an arrow; click to pin it.</div>\n");
    write_data(&mut page, &picture);
    w!(page, "<script>\n{SCRIPT}</script>\n</body>\n</html>\n");
    page
}

// ---- what is drawn, worked out before anything is written ----

/// Everything the page shows, indexed.
struct Picture<'t> {
    trace: &'t Trace,
    lanes: Lanes,
    rows: Rows,
    frames: Frames,
    /// The violations by the event that proves them.
    violations: BTreeMap<usize, Vec<&'t Violation>>,
    /// Violations whose event is not in the trace (listed at the top only).
    stray_violations: Vec<&'t Violation>,
    count: usize,
    /// Each workload call's `CallStart` and what it expects, by id (its first start).
    calls: BTreeMap<u64, (usize, &'t Expected)>,
}

impl<'t> Picture<'t> {
    fn new(trace: &'t Trace, violations: &'t [Violation]) -> Picture<'t> {
        let lanes = Lanes::collect(trace);
        let mut by_event: BTreeMap<usize, Vec<&Violation>> = BTreeMap::new();
        let mut stray_violations = Vec::new();
        for violation in violations {
            match violation.event < trace.events.len() {
                true => by_event.entry(violation.event).or_default().push(violation),
                false => stray_violations.push(violation),
            }
        }
        let mut calls = BTreeMap::new();
        for (index, event) in trace.events.iter().enumerate() {
            if let EventKind::CallStart { id, expected, .. } = &event.kind {
                calls.entry(*id).or_insert((index, expected));
            }
        }
        Picture {
            rows: Rows::collect(trace),
            calls,
            frames: Frames::collect(trace, &lanes),
            lanes,
            trace,
            violations: by_event,
            stray_violations,
            count: violations.len(),
        }
    }

    fn lane_x(&self, lane: usize) -> i64 {
        RULER_PX + LABELS_PX + lane as i64 * LANE_PX
    }

    /// Where an event's node is: its lifeline, or the ruler's edge for the simulator.
    fn event_x(&self, event: usize) -> i64 {
        let node = &self.trace.events[event].node;
        self.lanes
            .of(node)
            .map_or(RULER_PX, |lane| self.lane_x(lane))
    }

    fn notes_x(&self) -> i64 {
        let last = self.lanes.names.len().saturating_sub(1);
        self.lane_x(last) + NOTES_GAP_PX
    }

    fn width(&self) -> i64 {
        self.notes_x() + NOTES_PX
    }
}

/// The lifelines: every node but [`SIM`], in first-appearance order.
struct Lanes {
    names: Vec<String>,
    index: BTreeMap<String, usize>,
}

impl Lanes {
    fn collect(trace: &Trace) -> Lanes {
        let mut lanes = Lanes {
            names: Vec::new(),
            index: BTreeMap::new(),
        };
        for event in &trace.events {
            lanes.add(&event.node);
            match &event.kind {
                EventKind::ConnOpen { server, .. } => lanes.add(server),
                EventKind::LinkCut { from, to, .. } | EventKind::LinkHeal { from, to, .. } => {
                    lanes.add(from);
                    lanes.add(to);
                }
                _ => {}
            }
        }
        lanes
    }

    fn add(&mut self, name: &str) {
        if name == SIM || self.index.contains_key(name) {
            return;
        }
        self.index.insert(name.to_owned(), self.names.len());
        self.names.push(name.to_owned());
    }

    fn of(&self, name: &str) -> Option<usize> {
        self.index.get(name).copied()
    }
}

/// Where each event's row is, with the idle gaps.
struct Rows {
    /// The top of each event's row.
    top: Vec<i64>,
    /// The rows an idle gap precedes, ascending.
    gaps: Vec<usize>,
    /// Below the last row.
    bottom: i64,
}

impl Rows {
    fn collect(trace: &Trace) -> Rows {
        let mut rows = Rows {
            top: Vec::with_capacity(trace.events.len()),
            gaps: Vec::new(),
            bottom: 0,
        };
        let mut y = TOP_PX;
        let mut last_us = None;
        for (index, event) in trace.events.iter().enumerate() {
            if last_us.is_some_and(|last| event.t_us.saturating_sub(last) >= GAP_US) {
                y += GAP_PX;
                rows.gaps.push(index);
            }
            last_us = Some(event.t_us);
            rows.top.push(y);
            y += ROW_PX;
        }
        rows.bottom = y;
        rows
    }

    fn mid(&self, row: usize) -> i64 {
        self.top[row] + ROW_PX / 2
    }

    fn height(&self) -> i64 {
        self.bottom + BOTTOM_PX
    }
}

/// One frame: its `Send` and the `Deliver`s of its copies.
struct Frame {
    send: usize,
    from: Option<usize>,
    to: Option<usize>,
    kind: &'static str,
    /// The delay of each copy the network scheduled (none for a drop).
    delays_us: Vec<u64>,
    dropped: bool,
    /// The `Deliver` events of its copies, in arrival order.
    delivered: Vec<usize>,
}

/// Every frame of the trace, matched with its deliveries.
struct Frames {
    list: Vec<Frame>,
    /// The frame each `Send` or `Deliver` event belongs to.
    of_event: Vec<Option<usize>>,
    /// The longest delay of a frame the network could not have delayed on purpose (a `Hello`,
    /// or any frame after `Healed`): longer delays are drawn as injected. `None`: no such frame.
    base_delay_max_us: Option<u64>,
}

impl Frames {
    fn collect(trace: &Trace, lanes: &Lanes) -> Frames {
        let conns = conn_ends(trace);
        let mut frames = Frames {
            list: Vec::new(),
            of_event: vec![None; trace.events.len()],
            base_delay_max_us: None,
        };
        let mut by_key: BTreeMap<(u64, Dir, u64), usize> = BTreeMap::new();
        let mut healed = false;
        for (i, event) in trace.events.iter().enumerate() {
            match &event.kind {
                EventKind::Send {
                    conn,
                    dir,
                    index,
                    frame,
                    fate,
                    ..
                } => {
                    let ends = conns.get(conn).map(|(client, server)| match dir {
                        Dir::Up => *server,
                        Dir::Down => *client,
                    });
                    let from = lanes.of(&event.node);
                    let to = ends.and_then(|name| lanes.of(name));
                    frames.of_event[i] = Some(frames.list.len());
                    by_key.insert((*conn, *dir, *index), frames.list.len());
                    frames.note_base_delay(frame, fate, healed);
                    frames.list.push(Frame::sent(i, from, to, frame, fate));
                }
                EventKind::Deliver {
                    conn, dir, index, ..
                } => {
                    let Some(&n) = by_key.get(&(*conn, *dir, *index)) else {
                        continue;
                    };
                    frames.of_event[i] = Some(n);
                    let frame = &mut frames.list[n];
                    frame.delivered.push(i);
                    frame.to = frame.to.or(lanes.of(&event.node));
                }
                EventKind::Healed => healed = true,
                _ => {}
            }
        }
        frames
    }

    fn note_base_delay(&mut self, frame: &FrameInfo, fate: &Fate, healed: bool) {
        let Fate::Deliver { delay_us } = fate else {
            return;
        };
        if !healed && !matches!(frame, FrameInfo::Hello) {
            return;
        }
        let max = self.base_delay_max_us.get_or_insert(0);
        *max = (*max).max(*delay_us);
    }

    /// Whether a copy's delay is longer than any the network draws without a delay fault.
    fn delayed(&self, delay_us: u64) -> bool {
        self.base_delay_max_us.is_some_and(|max| delay_us > max)
    }
}

impl Frame {
    fn sent(
        send: usize,
        from: Option<usize>,
        to: Option<usize>,
        frame: &FrameInfo,
        fate: &Fate,
    ) -> Frame {
        let (delays_us, dropped) = match fate {
            Fate::Deliver { delay_us } => (vec![*delay_us], false),
            Fate::Duplicate { delays_us } => (delays_us.clone(), false),
            Fate::Drop(_) => (Vec::new(), true),
        };
        Frame {
            send,
            from,
            to,
            kind: frame.kind(),
            delays_us,
            dropped,
            delivered: Vec::new(),
        }
    }
}

/// Each connection's caller and server, from the `ConnOpen`s.
fn conn_ends(trace: &Trace) -> BTreeMap<u64, (&str, &str)> {
    let mut conns = BTreeMap::new();
    for event in &trace.events {
        if let EventKind::ConnOpen { conn, server } = &event.kind {
            conns.insert(*conn, (&*event.node, server.as_str()));
        }
    }
    conns
}

// ---- the page around the diagram ----

fn write_head(page: &mut String, title: &str) {
    page.push_str("<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    page.push_str("<meta name=\"viewport\" content=\"width=device-width\">\n");
    w!(page, "<title>{}</title>\n<style>\n{STYLE}", escape(title));
    for (kind, colour) in KINDS {
        w!(
            page,
            ".k-{kind}{{stroke:{colour}}}.arrow.k-{kind}{{marker-end:url(#m-{kind})}}\n"
        );
    }
    page.push_str(".arrow.hot{marker-end:url(#m-hot)}.hot{stroke:#dc2626;stroke-width:3}\n");
    w!(
        page,
        ".callout .msg{{display:-webkit-box;-webkit-box-orient:vertical;overflow:hidden;\
         -webkit-line-clamp:{CALLOUT_MESSAGE_LINES_MAX}}}\n"
    );
    page.push_str("</style>\n</head>\n<body>\n");
}

fn write_header(page: &mut String, picture: &Picture, title: &str) {
    page.push_str("<header>\n");
    w!(page, "<h1>{}</h1>\n", escape(title));
    write_summary(page, picture.trace);
    write_violation_list(page, picture);
    write_legend(page);
    page.push_str("</header>\n");
}

fn write_summary(page: &mut String, trace: &Trace) {
    let tally = check::tally(trace);
    let scenario = trace.events.iter().find_map(|event| match &event.kind {
        EventKind::RunStart { scenario, seed } => {
            Some(format!("scenario {scenario:?}, seed {seed}"))
        }
        _ => None,
    });
    let mut parts = vec![
        scenario.unwrap_or_else(|| "no run-start".to_owned()),
        format!("{} events", trace.events.len()),
        format!("{} virtual", duration(tally.virtual_us)),
        format!("{} calls", tally.calls),
        format!("{} frames", tally.frames),
    ];
    let faults = [
        (tally.drops + tally.cut_drops, "dropped", "dropped"),
        (tally.duplicates, "duplicated", "duplicated"),
        (tally.reorders, "reordered", "reordered"),
        (tally.partitions, "link cut", "link cuts"),
        (tally.crashes, "crash", "crashes"),
        (tally.restarts, "restart", "restarts"),
    ];
    for (count, one, many) in faults {
        match count {
            0 => {}
            1 => parts.push(format!("1 {one}")),
            _ => parts.push(format!("{count} {many}")),
        }
    }
    w!(
        page,
        "<p class=\"sum\">{}</p>\n",
        escape(&parts.join(" · "))
    );
}

fn write_violation_list(page: &mut String, picture: &Picture) {
    if picture.count == 0 {
        page.push_str("<p class=\"pass\">No violations: every checker passed.</p>\n");
        return;
    }
    let noun = if picture.count == 1 {
        "violation"
    } else {
        "violations"
    };
    w!(
        page,
        "<div class=\"viols\"><strong>{} {noun}</strong><ol>\n",
        picture.count
    );
    let listed = picture.violations.values().flatten();
    for violation in listed.take(VIOLATIONS_LISTED_MAX) {
        let at = violation.event;
        w!(
            page,
            "<li><a href=\"#ev-{at}\">{} at event {at}</a>: {}</li>\n",
            violation.kind,
            escape(&violation.message)
        );
    }
    for violation in &picture.stray_violations {
        w!(
            page,
            "<li>{} at event {} (not in the trace): {}</li>\n",
            violation.kind,
            violation.event,
            escape(&violation.message)
        );
    }
    page.push_str("</ol>");
    let shown = VIOLATIONS_LISTED_MAX + picture.stray_violations.len();
    if picture.count > shown {
        w!(
            page,
            "<p>... and {} more, each marked below.</p>",
            picture.count - shown
        );
    }
    page.push_str("</div>\n");
}

fn write_legend(page: &mut String) {
    page.push_str("<div class=\"legend\">");
    let line = |class: &str| {
        format!(
            "<svg width=\"34\" height=\"10\"><line class=\"lg {class}\" x1=\"2\" y1=\"5\" x2=\"32\" y2=\"5\"/></svg>"
        )
    };
    for (kind, _) in KINDS {
        w!(page, "<span>{}{kind}</span>", line(&format!("k-{kind}")));
    }
    w!(page, "<span>{}duplicate copy</span>", line("k-call dup"));
    w!(page, "<span>{}delayed</span>", line("k-call late"));
    page.push_str(
        "<span><svg width=\"14\" height=\"10\"><circle class=\"ring\" cx=\"7\" cy=\"5\" r=\"4\"/></svg>reordered</span>\
         <span><svg width=\"14\" height=\"10\"><path class=\"x\" d=\"M3 1l8 8m0-8l-8 8\"/></svg>dropped</span>\
         <span><svg width=\"14\" height=\"10\"><path class=\"x hollow\" d=\"M3 1l8 8m0-8l-8 8\"/></svg>never arrived</span>\
         <span><i class=\"sw cutsw\"></i>link cut</span>\
         <span><i class=\"sw downsw\"></i>node down</span>\
         <span><i class=\"sw violsw\"></i>violation</span>",
    );
    page.push_str("</div>\n");
}

/// The node names, kept in view while the diagram scrolls.
fn write_lane_bar(page: &mut String, picture: &Picture) {
    w!(
        page,
        "<div id=\"lanes\" style=\"width:{}px\">",
        picture.width()
    );
    match picture.violations.keys().next() {
        Some(first) => w!(
            page,
            "<a class=\"jump\" href=\"#ev-{first}\">&#9888; first violation</a>"
        ),
        None => page.push_str("<span class=\"jump ok\">no violations</span>"),
    }
    for (lane, name) in picture.lanes.names.iter().enumerate() {
        w!(
            page,
            "<span class=\"lane\" style=\"left:{}px\">{}</span>",
            picture.lane_x(lane),
            escape(name)
        );
    }
    page.push_str("</div>\n");
}

// ---- the diagram ----

/// The SVG, drawn in layers (later ones on top).
#[derive(Default)]
struct Layers {
    bands: String,
    rows: String,
    lifelines: String,
    frames: String,
    marks: String,
    labels: String,
    /// HTML over the SVG: the violations' callouts.
    callouts: String,
}

fn write_chart(page: &mut String, picture: &Picture) {
    let mut layers = Layers::default();
    draw_ruler(&mut layers, picture);
    draw_cuts(&mut layers, picture);
    draw_lifelines(&mut layers, picture);
    draw_frames(&mut layers, picture);
    for index in 0..picture.trace.events.len() {
        draw_event(&mut layers, picture, index);
    }
    draw_violations(&mut layers, picture);
    let (width, height) = (picture.width(), picture.rows.height());
    w!(
        page,
        "<div id=\"chart\" style=\"width:{width}px;height:{height}px\">\n\
         <svg id=\"diagram\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\">\n"
    );
    write_defs(page);
    w!(
        page,
        "<rect class=\"ruler\" x=\"0\" y=\"0\" width=\"{RULER_PX}\" height=\"{height}\"/>\n"
    );
    page.push_str(&layers.bands);
    page.push_str(&layers.rows);
    w!(
        page,
        "<rect id=\"hl\" x=\"0\" y=\"-100\" width=\"{width}\" height=\"{ROW_PX}\"/>\n"
    );
    for layer in [
        &layers.lifelines,
        &layers.frames,
        &layers.marks,
        &layers.labels,
    ] {
        page.push_str(layer);
    }
    page.push_str("<circle id=\"ring\" cx=\"-100\" cy=\"-100\" r=\"6\"/>\n</svg>\n");
    page.push_str(&layers.callouts);
    page.push_str("</div>\n");
}

fn write_defs(page: &mut String) {
    page.push_str("<defs>\n");
    let kinds = KINDS.iter().copied().chain([("hot", "#dc2626")]);
    for (kind, colour) in kinds {
        w!(
            page,
            "<marker id=\"m-{kind}\" viewBox=\"0 0 10 10\" refX=\"9\" refY=\"5\" markerWidth=\"6\" \
             markerHeight=\"6\" orient=\"auto\"><path d=\"M0 1L10 5L0 9z\" fill=\"{colour}\"/></marker>\n"
        );
    }
    page.push_str(
        "<pattern id=\"hatch-down\" width=\"6\" height=\"6\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(45)\"><rect width=\"6\" height=\"6\" fill=\"#fef2f2\"/>\
         <line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"6\" stroke=\"#ef4444\" stroke-width=\"2\"/></pattern>\n\
         <pattern id=\"hatch-cut\" width=\"10\" height=\"10\" patternUnits=\"userSpaceOnUse\" \
         patternTransform=\"rotate(-45)\"><line x1=\"0\" y1=\"0\" x2=\"0\" y2=\"10\" \
         stroke=\"#f59e0b\" stroke-width=\"3\" stroke-opacity=\".35\"/></pattern>\n</defs>\n",
    );
}

/// Event indices and virtual times on the left, and the idle gaps across.
fn draw_ruler(layers: &mut Layers, picture: &Picture) {
    let events = &picture.trace.events;
    let rows = &picture.rows;
    let width = picture.width();
    for &row in &rows.gaps {
        let y = rows.top[row] - GAP_PX / 2;
        let idle = events[row].t_us - events[row - 1].t_us;
        w!(
            layers.bands,
            "<line class=\"gap\" x1=\"0\" y1=\"{y}\" x2=\"{width}\" y2=\"{y}\"/>\
             <text class=\"gapt\" x=\"6\" y=\"{}\">&#8942; {} idle</text>\n",
            y + 4,
            duration(idle)
        );
    }
    let mut gaps = rows.gaps.iter().peekable();
    let mut last: Option<(usize, u64)> = None;
    for (row, event) in events.iter().enumerate() {
        let after_gap = gaps.next_if(|&&gap| gap == row).is_some();
        let due =
            last.is_none_or(|(at, t_us)| t_us != event.t_us && row - at >= RULER_LABEL_ROWS_MIN);
        if !(due || after_gap || picture.violations.contains_key(&row)) {
            continue;
        }
        last = Some((row, event.t_us));
        let y = rows.mid(row) + 4;
        w!(
            layers.labels,
            "<text class=\"idx\" x=\"6\" y=\"{y}\">{row}</text>\
             <text class=\"t\" x=\"{}\" y=\"{y}\">{}</text>\n",
            RULER_PX - 8,
            seconds(event.t_us)
        );
    }
}

/// A cut of one unordered pair of lanes, while it lasts in one state.
struct Band {
    lanes: (usize, usize),
    /// Whether `lanes.0 → lanes.1` and `lanes.1 → lanes.0` are cut.
    cut: (bool, bool),
    from_row: usize,
    to_row: Option<usize>,
}

/// The partitions as bands: which directed links are cut, row by row, as the network sees them
/// (a cut is a set: a second cut of a cut link changes nothing; `Healed` heals every link).
fn cut_bands(picture: &Picture) -> Vec<Band> {
    let mut cut: BTreeSet<(usize, usize)> = BTreeSet::new();
    let mut open: BTreeMap<(usize, usize), usize> = BTreeMap::new();
    let mut bands: Vec<Band> = Vec::new();
    for (row, event) in picture.trace.events.iter().enumerate() {
        let touched: Vec<(usize, usize)> = match &event.kind {
            EventKind::LinkCut { from, to, both } | EventKind::LinkHeal { from, to, both } => {
                let (Some(a), Some(b)) = (picture.lanes.of(from), picture.lanes.of(to)) else {
                    continue;
                };
                let is_cut = matches!(event.kind, EventKind::LinkCut { .. });
                let mut links = vec![(a, b)];
                if *both {
                    links.push((b, a));
                }
                for link in &links {
                    match is_cut {
                        true => cut.insert(*link),
                        false => cut.remove(link),
                    };
                }
                vec![(a.min(b), a.max(b))]
            }
            EventKind::Healed => std::mem::take(&mut cut).into_iter().collect(),
            _ => continue,
        };
        for (a, b) in touched {
            let pair = (a.min(b), a.max(b));
            let state = (cut.contains(&pair), cut.contains(&(pair.1, pair.0)));
            if let Some(band) = open.get(&pair).map(|&n| &mut bands[n]) {
                if band.cut == state {
                    continue;
                }
                band.to_row = Some(row);
                open.remove(&pair);
            }
            if state != (false, false) {
                open.insert(pair, bands.len());
                bands.push(Band {
                    lanes: pair,
                    cut: state,
                    from_row: row,
                    to_row: None,
                });
            }
        }
    }
    bands
}

fn draw_cuts(layers: &mut Layers, picture: &Picture) {
    let rows = &picture.rows;
    for band in cut_bands(picture) {
        let (a, b) = band.lanes;
        let (x1, x2) = (picture.lane_x(a), picture.lane_x(b));
        let y1 = rows.mid(band.from_row);
        let y2 = band.to_row.map_or(rows.bottom, |row| rows.mid(row));
        let (name_a, name_b) = (&picture.lanes.names[a], &picture.lanes.names[b]);
        let (class, label) = match band.cut {
            (true, true) => ("cut both", format!("{name_a} ⇹ {name_b} cut")),
            (true, false) => ("cut oneway", format!("{name_a} → {name_b} cut")),
            _ => ("cut oneway", format!("{name_b} → {name_a} cut")),
        };
        w!(
            layers.bands,
            "<rect class=\"{class}\" x=\"{x1}\" y=\"{y1}\" width=\"{}\" height=\"{}\"/>\
             <text class=\"cutl\" x=\"{}\" y=\"{}\">&#9986; {}</text>\n",
            x2 - x1,
            (y2 - y1).max(1),
            (x1 + x2) / 2,
            y1 + 12,
            escape(&label)
        );
    }
}

/// A lifeline per node, hatched while the node is down (`NodeCrash` .. the next `NodeStart`).
fn draw_lifelines(layers: &mut Layers, picture: &Picture) {
    let rows = &picture.rows;
    for (lane, name) in picture.lanes.names.iter().enumerate() {
        let x = picture.lane_x(lane);
        w!(
            layers.lifelines,
            "<line class=\"lifeline\" data-node=\"{}\" x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{}\"/>\n",
            escape(name),
            rows.bottom
        );
        let mut down_since = None;
        for (row, event) in picture.trace.events.iter().enumerate() {
            if *event.node != **name {
                continue;
            }
            match (&event.kind, down_since) {
                (EventKind::NodeCrash, None) => down_since = Some(rows.mid(row)),
                (EventKind::NodeStart { .. }, Some(y1)) => {
                    draw_down(layers, x, y1, rows.mid(row));
                    down_since = None;
                }
                _ => {}
            }
        }
        if let Some(y1) = down_since {
            draw_down(layers, x, y1, rows.bottom);
        }
    }
}

fn draw_down(layers: &mut Layers, x: i64, y1: i64, y2: i64) {
    w!(
        layers.lifelines,
        "<rect class=\"down\" x=\"{}\" y=\"{y1}\" width=\"10\" height=\"{}\"/>\n",
        x - 5,
        (y2 - y1).max(1)
    );
}

/// An arrow per delivered copy; a stub with an X per dropped frame or copy that never arrived.
fn draw_frames(layers: &mut Layers, picture: &Picture) {
    let hot: BTreeSet<usize> = picture.violations.keys().copied().collect();
    for (n, frame) in picture.frames.list.iter().enumerate() {
        let Some(from) = frame.from else {
            continue;
        };
        let x1 = picture.lane_x(from);
        let y1 = picture.rows.mid(frame.send);
        let send_hot = hot.contains(&frame.send);
        w!(layers.frames, "<g id=\"f{n}\">");
        for &deliver in &frame.delivered {
            let hot = send_hot || hot.contains(&deliver);
            draw_arrow(layers, picture, frame, deliver, (x1, y1), hot);
        }
        let toward = frame.to.map(|to| picture.lane_x(to));
        if frame.dropped {
            draw_stub(layers, frame, (x1, y1), toward, "drop", send_hot);
        } else if frame.delivered.len() < frame.delays_us.len() {
            draw_stub(layers, frame, (x1, y1), toward, "lost", send_hot);
        }
        layers.frames.push_str("</g>\n");
    }
}

fn draw_arrow(
    layers: &mut Layers,
    picture: &Picture,
    frame: &Frame,
    deliver: usize,
    (x1, y1): (i64, i64),
    hot: bool,
) {
    let EventKind::Deliver {
        copy, reordered, ..
    } = &picture.trace.events[deliver].kind
    else {
        return;
    };
    let x2 = picture.event_x(deliver);
    let y2 = picture.rows.mid(deliver);
    let mut class = format!("arrow k-{}", frame.kind);
    let delay = frame.delays_us.get(*copy as usize).copied().unwrap_or(0);
    match (*copy > 0, picture.frames.delayed(delay)) {
        (true, _) => class.push_str(" dup"),
        (false, true) => class.push_str(" late"),
        (false, false) => {}
    }
    if hot {
        class.push_str(" hot");
    }
    // An arrow that would be a point (a node sending to itself) loops out to the right.
    let shape = match x1 == x2 {
        true => format!(
            "<path class=\"{class}\" data-e=\"{deliver}\" d=\"M{x1} {y1}c40 0 40 {} 0 {}\"/>",
            y2 - y1,
            y2 - y1
        ),
        false => format!(
            "<line class=\"{class}\" data-e=\"{deliver}\" x1=\"{x1}\" y1=\"{y1}\" x2=\"{x2}\" y2=\"{y2}\"/>"
        ),
    };
    layers.frames.push_str(&shape);
    if *reordered {
        w!(
            layers.marks,
            "<circle class=\"ring\" data-e=\"{deliver}\" cx=\"{x2}\" cy=\"{y2}\" r=\"5\"/>\n"
        );
    }
    if *copy > 0 {
        let side = if x2 > x1 { -14 } else { 14 };
        w!(
            layers.labels,
            "<text class=\"dupl\" x=\"{}\" y=\"{}\">dup</text>\n",
            x2 + side,
            y2 - 3
        );
    }
}

/// A short stub from the sender toward the receiver ending in an X: `drop` for a frame the
/// network dropped, `lost` for a copy it scheduled but never delivered.
fn draw_stub(
    layers: &mut Layers,
    frame: &Frame,
    (x1, y1): (i64, i64),
    toward: Option<i64>,
    what: &str,
    hot: bool,
) {
    let sign = match toward {
        Some(x2) if x2 < x1 => -1,
        _ => 1,
    };
    let reach = match what {
        "drop" => DROP_STUB_PX,
        _ => toward.map_or(DROP_STUB_PX * 2, |x2| (x2 - x1).abs() / 2),
    };
    let (x2, y2) = (x1 + sign * reach, y1 + 5);
    let hollow = if what == "lost" { " hollow" } else { "" };
    let hot = if hot { " hot" } else { "" };
    w!(
        layers.frames,
        "<g class=\"{what}\" data-e=\"{}\"><line class=\"stub k-{}{hot}\" x1=\"{x1}\" y1=\"{y1}\" \
         x2=\"{x2}\" y2=\"{y2}\"/><path class=\"x{hollow}\" d=\"M{} {}l8 8m0-8l-8 8\"/></g>",
        frame.send,
        frame.kind,
        x2 - 4 + sign * 6,
        y2 - 4
    );
}

/// What one event adds beside its lifeline: a dot, and a mark or a label by its kind.
fn draw_event(layers: &mut Layers, picture: &Picture, index: usize) {
    let event = &picture.trace.events[index];
    let y = picture.rows.mid(index);
    let Some(lane) = picture.lanes.of(&event.node) else {
        draw_sim_event(layers, picture, index);
        return;
    };
    let x = picture.lane_x(lane);
    w!(
        layers.marks,
        "<circle class=\"ev\" cx=\"{x}\" cy=\"{y}\" r=\"2\"/>\n"
    );
    draw_glyph(layers, &event.kind, x, y);
    let Some(label) = label(picture, &event.kind) else {
        return;
    };
    let (x, anchor) = match label.side {
        Side::Right => (x + 9, "start"),
        Side::Left => (x - 9, "end"),
    };
    w!(
        layers.labels,
        "<text class=\"{}\" x=\"{x}\" y=\"{}\" text-anchor=\"{anchor}\">{}</text>\n",
        label.class,
        y + 4,
        escape(&clip(&label.text, LABEL_CHARS_MAX))
    );
}

/// The marks on a lifeline: a crash, a restart, a call the server executes.
fn draw_glyph(layers: &mut Layers, kind: &EventKind, x: i64, y: i64) {
    let (left, up) = (x - 6, y - 6);
    match kind {
        EventKind::NodeCrash => w!(
            layers.marks,
            "<path class=\"crash\" d=\"M{left} {up}l12 12m0-12l-12 12\"/>\n"
        ),
        EventKind::NodeStart { generation, .. } if *generation > 0 => w!(
            layers.marks,
            "<path class=\"restart\" d=\"M{x} {up}l7 12h-14z\"/>\n"
        ),
        EventKind::Exec { .. } => w!(
            layers.marks,
            "<rect class=\"exec\" x=\"{}\" y=\"{}\" width=\"6\" height=\"6\"/>\n",
            x - 3,
            y - 3
        ),
        _ => {}
    }
}

/// Which side of its lifeline a label is on: calls on the left, the rest on the right.
enum Side {
    Left,
    Right,
}

/// A text beside a lifeline.
struct Label {
    class: &'static str,
    text: String,
    side: Side,
}

fn label(picture: &Picture, kind: &EventKind) -> Option<Label> {
    let (class, text, side) = match kind {
        EventKind::CallStart { id, op, .. } => ("lbl call", format!("▶ {id} {op}"), Side::Left),
        EventKind::CallEnd { id, outcome } => {
            let expected = picture.calls.get(id).map(|(_, expected)| *expected);
            let class = call_end_class(expected, outcome);
            (class, format!("◀ {id} {outcome}"), Side::Left)
        }
        EventKind::NodeCrash => ("lbl bad", "crash".to_owned(), Side::Right),
        EventKind::NodeStart { generation: 0, .. } => ("lbl faint", "up".to_owned(), Side::Right),
        EventKind::NodeStart { generation, .. } => {
            let text = format!("restart (generation {generation})");
            ("lbl good", text, Side::Right)
        }
        EventKind::ConnRefused { server, .. } => ("lbl faint", format!("⊘ {server}"), Side::Right),
        EventKind::Offer {
            target,
            interface,
            holds: false,
            ..
        } => {
            let text = format!("offer {target}: {interface} breaks");
            ("lbl bad", text, Side::Right)
        }
        EventKind::DupSuppressed { seq, .. } => {
            ("lbl note", format!("dup seq={seq} skipped"), Side::Right)
        }
        EventKind::Output { text, .. } => {
            ("lbl out", format!("» {}", text.trim_end()), Side::Right)
        }
        EventKind::Effect { key, count } if *count > 1 => {
            ("lbl bad", format!("effect {key:?} ×{count}"), Side::Right)
        }
        EventKind::Quiesce {
            pending,
            calls_running,
            ..
        } if *pending > 0 || *calls_running > 0 => {
            let text = format!("holds pending={pending} running={calls_running}");
            ("lbl bad", text, Side::Right)
        }
        _ => return None,
    };
    Some(Label { class, text, side })
}

/// A call's end: as expected, explained by a fault, or neither.
fn call_end_class(expected: Option<&Expected>, outcome: &Outcome) -> &'static str {
    match expected {
        Some(expected) if expected.admits(outcome) => "lbl good",
        _ if outcome.is_fault() => "lbl warn",
        _ => "lbl bad",
    }
}

/// The simulator's events: rules across the lanes for the healing and the end of the run.
fn draw_sim_event(layers: &mut Layers, picture: &Picture, index: usize) {
    let event = &picture.trace.events[index];
    let (class, text) = match &event.kind {
        EventKind::Healed => (
            "healed",
            "healed: no faults from here on, the liveness window opens",
        ),
        EventKind::RunEnd => ("runend", "end of the run"),
        EventKind::RunStart { .. } => ("runend", "start of the run"),
        _ => return,
    };
    let y = picture.rows.mid(index);
    w!(
        layers.bands,
        "<line class=\"{class}\" x1=\"{RULER_PX}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/>\
         <text class=\"{class}t\" x=\"{}\" y=\"{}\">{text}</text>\n",
        picture.width(),
        RULER_PX + 6,
        y - 3
    );
}

/// A red row per proving event, its node ringed, a bracket over the call it ends (if it is a
/// call's end), and a callout with the messages in the notes column.
fn draw_violations(layers: &mut Layers, picture: &Picture) {
    let width = picture.width();
    let notes_x = picture.notes_x();
    let mut free_y = 0;
    for (&index, violations) in &picture.violations {
        let top = picture.rows.top[index];
        let y = picture.rows.mid(index);
        let x = picture.event_x(index);
        w!(
            layers.rows,
            "<rect class=\"viol\" x=\"0\" y=\"{top}\" width=\"{width}\" height=\"{ROW_PX}\"/>\n"
        );
        draw_call_span(layers, picture, index);
        // Callouts stack downwards: one never hides another, a leader joins it to its row.
        let callout_y = (y - 10).max(free_y);
        w!(
            layers.marks,
            "<circle class=\"violdot\" cx=\"{x}\" cy=\"{y}\" r=\"6\"/>\
             <polyline class=\"leader\" points=\"{x},{y} {},{y} {notes_x},{}\"/>\n",
            notes_x - 24,
            callout_y + 10
        );
        free_y = callout_y + write_callout(layers, picture, index, violations, callout_y) + 6;
    }
}

/// A bracket left of the caller's lifeline from a call's start to the end that violates.
fn draw_call_span(layers: &mut Layers, picture: &Picture, end: usize) {
    let EventKind::CallEnd { id, .. } = &picture.trace.events[end].kind else {
        return;
    };
    let Some(&(start, _)) = picture.calls.get(id) else {
        return;
    };
    if start >= end {
        return;
    }
    let x = picture.event_x(end) - 5;
    let (y1, y2) = (picture.rows.mid(start), picture.rows.mid(end));
    w!(
        layers.marks,
        "<path class=\"span\" d=\"M{} {y1}h-4V{y2}h4\"/>\n",
        x + 1
    );
}

/// The callout of the violations at `index`, at `y`; returns its height. A message longer
/// than [`CALLOUT_MESSAGE_LINES_MAX`] lines is cut (the top of the page and the panel have it
/// whole, and pointing at the callout unfolds it), so the height is known here.
fn write_callout(
    layers: &mut Layers,
    picture: &Picture,
    index: usize,
    violations: &[&Violation],
    y: i64,
) -> i64 {
    let event = &picture.trace.events[index];
    let notes_x = picture.notes_x();
    w!(
        layers.callouts,
        "<div class=\"callout\" id=\"ev-{index}\" style=\"left:{notes_x}px;top:{y}px\">\
         <div class=\"where\">event {index} · {} s · {}</div>",
        seconds(event.t_us),
        escape(&event.node)
    );
    let mut lines = 1;
    for violation in violations {
        w!(
            layers.callouts,
            "<div class=\"msg\"><strong>{}</strong>: {}</div>",
            violation.kind,
            escape(&violation.message)
        );
        let chars = violation.kind.name().len() + 2 + violation.message.chars().count();
        lines += chars
            .div_ceil(CALLOUT_LINE_CHARS)
            .clamp(1, CALLOUT_MESSAGE_LINES_MAX);
    }
    layers.callouts.push_str("</div>\n");
    CALLOUT_PADDING_PX + lines as i64 * CALLOUT_LINE_PX
}

// ---- the script's data ----

/// The events, frames and violations as JSON for the script (which only reads it).
fn write_data(page: &mut String, picture: &Picture) {
    let lane_x: Vec<String> = (0..picture.lanes.names.len())
        .map(|lane| picture.lane_x(lane).to_string())
        .collect();
    page.push_str("<script type=\"application/json\" id=\"trace-data\">{");
    w!(
        page,
        "\"row\":{ROW_PX},\"gap\":{GAP_PX},\"ruler\":{RULER_PX},\"x\":[{}],\"lanes\":[",
        lane_x.join(",")
    );
    for (lane, name) in picture.lanes.names.iter().enumerate() {
        page.push_str(if lane == 0 { "" } else { "," });
        json_string(page, name);
    }
    let gaps: Vec<String> = picture.rows.gaps.iter().map(usize::to_string).collect();
    w!(
        page,
        "],\"gaps\":[{}],\"top0\":{TOP_PX},\"ev\":[",
        gaps.join(",")
    );
    write_event_data(page, picture);
    page.push_str("],\"fr\":[");
    write_frame_data(page, picture);
    page.push_str("],\"viol\":{");
    for (n, (index, violations)) in picture.violations.iter().enumerate() {
        w!(page, "{}\"{index}\":[", if n == 0 { "" } else { "," });
        for (i, violation) in violations.iter().enumerate() {
            page.push_str(if i == 0 { "" } else { "," });
            json_string(page, &format!("{}: {}", violation.kind, violation.message));
        }
        page.push(']');
    }
    page.push_str("}}</script>\n");
}

/// `[t_us, lane or -1, "trace line", frame or -1]` per event.
fn write_event_data(page: &mut String, picture: &Picture) {
    for (index, event) in picture.trace.events.iter().enumerate() {
        let lane = picture.lanes.of(&event.node).map_or(-1, |lane| lane as i64);
        let frame = picture.frames.of_event[index].map_or(-1, |n| n as i64);
        w!(
            page,
            "{}[{},{lane},",
            if index == 0 { "" } else { ",\n" },
            event.t_us
        );
        json_string(page, &event.kind.to_string());
        w!(page, ",{frame}]");
    }
}

/// `[send, from, to, "kind", seq, "target.method", bytes, "fate", [delivers]]` per frame.
fn write_frame_data(page: &mut String, picture: &Picture) {
    for (n, frame) in picture.frames.list.iter().enumerate() {
        let EventKind::Send {
            frame: info,
            bytes,
            fate,
            ..
        } = &picture.trace.events[frame.send].kind
        else {
            continue;
        };
        let lane = |lane: Option<usize>| lane.map_or(-1, |lane| lane as i64);
        let seq = info.seq().map_or(-1, |seq| seq as i64);
        w!(
            page,
            "{}[{},{},{},\"{}\",{seq},",
            if n == 0 { "" } else { ",\n" },
            frame.send,
            lane(frame.from),
            lane(frame.to),
            frame.kind
        );
        let what = match info {
            FrameInfo::Call { target, method, .. } => format!("{target}.{method}"),
            FrameInfo::Failure { reason, .. } => reason.clone(),
            _ => String::new(),
        };
        json_string(page, &what);
        w!(page, ",{bytes},");
        json_string(page, &fate.to_string());
        page.push_str(",[");
        let delivered: Vec<String> = frame.delivered.iter().map(usize::to_string).collect();
        w!(page, "{}]]", delivered.join(","));
    }
}

// ---- text ----

/// `text` made safe for HTML text and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Appends `text` as a JSON string that is also safe inside a `<script>` element: no `<`, `>`
/// or `&` (so never `</script>` or `<!--`), no line separators.
fn json_string(out: &mut String, text: &str) {
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => w!(out, "\\u{:04x}", c as u32),
            c if (c as u32) < 0x20 => w!(out, "\\u{:04x}", c as u32),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// At most `max` characters of `text`, the last an ellipsis if it was cut.
fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((at, _)) if text.chars().count() > max => format!("{}…", &text[..at]),
        _ => text.to_owned(),
    }
}

/// Virtual µs as the trace writes them: seconds with six decimals.
fn seconds(t_us: u64) -> String {
    format!("{}.{:06}", t_us / 1_000_000, t_us % 1_000_000)
}

/// A length of virtual time for a reader: `850 µs`, `312.4 ms`, `2.50 s`.
fn duration(us: u64) -> String {
    match us {
        0..1_000 => format!("{us} µs"),
        1_000..1_000_000 => format!("{:.1} ms", us as f64 / 1e3),
        _ => format!("{:.2} s", us as f64 / 1e6),
    }
}

const STYLE: &str = r#":root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--red:#dc2626;--bg:#fcfcfd}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:13px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;padding-bottom:120px}
header{padding:16px 20px 10px;max-width:1400px}
h1{font-size:17px;font-weight:650;margin:0 0 2px;word-break:break-all}
.sum{color:var(--muted);margin:0 0 10px}
.pass{color:#15803d;font-weight:600;margin:0 0 10px}
.viols{border:1px solid #fecaca;background:#fef2f2;border-radius:8px;padding:8px 12px;margin:0 0 10px;max-height:210px;overflow:auto}
.viols strong{color:var(--red)}
.viols ol{margin:4px 0 0;padding-left:22px}
.viols li{margin:2px 0;word-break:break-word}
.viols a{color:var(--red);font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:4px 16px;color:var(--muted);font-size:12px}
.legend span{display:inline-flex;align-items:center;gap:5px}
.lg{stroke-width:2}
.sw{display:inline-block;width:22px;height:11px;border-radius:2px}
.cutsw{background:repeating-linear-gradient(-45deg,#fde68a 0 3px,#fffbeb 3px 7px);border:1px solid #f59e0b}
.downsw{background:repeating-linear-gradient(45deg,#ef4444 0 2px,#fef2f2 2px 5px)}
.violsw{background:#fecaca;border:1px solid var(--red)}
#lanes{position:sticky;top:0;z-index:5;height:32px;background:rgba(252,252,253,.94);border-bottom:1px solid var(--line);backdrop-filter:blur(2px)}
#lanes .lane{position:absolute;top:6px;transform:translateX(-50%);background:#1f2937;color:#fff;font:600 12px/1 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;padding:5px 12px;border-radius:11px;white-space:nowrap}
#lanes .jump{position:absolute;left:8px;top:8px;font-weight:600;color:var(--red);font-size:12px}
#lanes .jump.ok{color:#15803d}
#chart{position:relative}
#diagram{display:block}
svg text{font:11px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;fill:var(--ink)}
.ruler{fill:#f3f4f6}
.idx{fill:#9ca3af}
.t{text-anchor:end;fill:#4b5563}
.gap{stroke:#d1d5db;stroke-dasharray:2 4}
.gapt{fill:#9ca3af;font-style:italic}
.lifeline{stroke:#9ca3af;stroke-width:2}
.down{fill:url(#hatch-down)}
.cut{fill:url(#hatch-cut);stroke:#f59e0b;stroke-width:1}
.cut.both{fill:#fef3c7;fill-opacity:.75}
.cutl{text-anchor:middle;fill:#b45309;font-weight:600}
.arrow,.stub{stroke-width:1.4;fill:none}
.arrow.dup{stroke-dasharray:2 3}
.arrow.late{stroke-dasharray:7 4}
.sel .arrow,.sel .stub{stroke-width:3}
.x{stroke:var(--red);stroke-width:2.2;fill:none}
.x.hollow{stroke:#9ca3af;stroke-width:1.6}
.ring{fill:none;stroke:#f59e0b;stroke-width:2}
.dupl{fill:#6b7280;font-size:9px;text-anchor:middle}
.ev{fill:#6b7280}
.exec{fill:#1f2937}
.crash{stroke:var(--red);stroke-width:3.5;fill:none;stroke-linecap:round}
.restart{fill:#16a34a}
.lbl{paint-order:stroke;stroke:var(--bg);stroke-width:3px;stroke-linejoin:round}
.lbl.call{fill:#1e3a8a}
.lbl.good{fill:#15803d}
.lbl.warn{fill:#b45309}
.lbl.bad{fill:var(--red);font-weight:700}
.lbl.faint{fill:#9ca3af}
.lbl.note{fill:#7e22ce}
.lbl.out{fill:#6b7280;font-style:italic}
.healed{stroke:#16a34a;stroke-width:1.5;stroke-dasharray:8 4}
.healedt{fill:#15803d;font-weight:600}
.runend{stroke:#9ca3af;stroke-width:1}
.runendt{fill:#6b7280}
.viol{fill:#fee2e2;stroke:#fca5a5}
.violdot{fill:none;stroke:var(--red);stroke-width:2.5}
.leader{fill:none;stroke:var(--red);stroke-width:1.2;stroke-dasharray:3 2}
#hl{fill:#dbeafe;fill-opacity:.7}
#ring{fill:none;stroke:#2563eb;stroke-width:2}
.callout{position:absolute;width:410px;background:#fff;border:1.5px solid var(--red);border-left:6px solid var(--red);border-radius:6px;padding:5px 9px;font-size:12px;line-height:16px;box-shadow:0 2px 8px rgba(220,38,38,.15);scroll-margin-top:40vh;word-break:break-word}
.callout strong{color:var(--red)}
.callout:hover{z-index:4}
.callout:hover .msg{-webkit-line-clamp:unset}
.span{fill:none;stroke:var(--red);stroke-width:1.2;stroke-opacity:.55}
.callout .where{color:var(--muted);font-size:11px}
.callout:target{outline:3px solid #fca5a5}
#panel{position:fixed;left:0;right:0;bottom:0;height:104px;z-index:10;background:#111827;color:#e5e7eb;border-top:3px solid #374151;padding:8px 16px;font:12px/1.5 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre;overflow:auto}
#panel.pinned{border-top-color:#2563eb}
"#;

const SCRIPT: &str = r#"(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("trace-data").textContent);
  const EV = D.ev, FR = D.fr, GAPS = D.gaps, VIOL = D.viol;
  const svg = document.getElementById("diagram");
  const hl = document.getElementById("hl"), ring = document.getElementById("ring");
  const panel = document.getElementById("panel");
  const violRows = Object.keys(VIOL).map(Number).sort((a, b) => a - b);
  let cur = -1, pinned = false, selected = null;

  function gapsUpTo(r) {
    let lo = 0, hi = GAPS.length;
    while (lo < hi) { const m = (lo + hi) >> 1; if (GAPS[m] <= r) lo = m + 1; else hi = m; }
    return lo;
  }
  function top(r) { return D.top0 + r * D.row + gapsUpTo(r) * D.gap; }
  function rowAt(y) {
    let lo = 0, hi = EV.length - 1;
    while (lo < hi) { const m = (lo + hi + 1) >> 1; if (top(m) <= y) lo = m; else hi = m - 1; }
    return lo;
  }
  function secs(us) { return (us / 1e6).toFixed(6) + " s"; }
  function ms(us) { return us < 1000 ? us + " µs" : (us / 1000).toFixed(3) + " ms"; }
  function lane(l) { return l >= 0 ? D.lanes[l] : "sim"; }

  function frameLines(f) {
    const [send, from, to, kind, seq, what, bytes, fate, arrived] = f;
    const head = [kind + (seq >= 0 ? "  seq=" + seq : ""), what, bytes + " bytes", "fate " + fate];
    const t0 = EV[send][0];
    let path = lane(from) + " → " + (to >= 0 ? D.lanes[to] : "?") + ":  sent #" + send + " at " + secs(t0);
    for (const d of arrived) path += ";  arrived #" + d + " at " + secs(EV[d][0]) + " (+" + ms(EV[d][0] - t0) + ")";
    if (arrived.length === 0) path += fate.startsWith("drop") ? ";  dropped" : ";  never arrived";
    return [head.filter(Boolean).join("   "), path];
  }

  function show(i) {
    if (i < 0 || i >= EV.length) return;
    cur = i;
    const e = EV[i], y = top(i);
    hl.setAttribute("y", y);
    ring.setAttribute("cx", e[1] >= 0 ? D.x[e[1]] : D.ruler);
    ring.setAttribute("cy", y + D.row / 2);
    const lines = ["event " + i + "   " + secs(e[0]) + "   " + lane(e[1])];
    if (e[3] >= 0) lines.push(...frameLines(FR[e[3]]));
    for (const v of VIOL[i] || []) lines.push("VIOLATION " + v);
    lines.push(e[2]);
    panel.textContent = lines.join("\n");
    if (selected) selected.classList.remove("sel");
    selected = e[3] >= 0 ? document.getElementById("f" + e[3]) : null;
    if (selected) selected.classList.add("sel");
  }
  function eventUnder(ev) {
    const hit = ev.target.closest && ev.target.closest("[data-e]");
    if (hit) return Number(hit.getAttribute("data-e"));
    return rowAt(ev.clientY - svg.getBoundingClientRect().top);
  }
  function pin(i, on) {
    pinned = on;
    panel.classList.toggle("pinned", on);
    show(i);
  }
  function reveal(i) {
    const y = svg.getBoundingClientRect().top + window.scrollY + top(i);
    if (y < window.scrollY + 60 || y > window.scrollY + window.innerHeight - 140)
      window.scrollTo({ top: y - window.innerHeight / 3 });
  }

  let pending = null;
  svg.addEventListener("mousemove", (ev) => {
    if (pinned || EV.length === 0) return;
    const i = eventUnder(ev);
    if (pending === null) pending = requestAnimationFrame(() => { pending = null; if (!pinned) show(i); });
  });
  svg.addEventListener("click", (ev) => { if (EV.length) pin(eventUnder(ev), !pinned || eventUnder(ev) !== cur); });
  document.addEventListener("keydown", (ev) => {
    if (EV.length === 0 || ev.ctrlKey || ev.metaKey || ev.altKey) return;
    let i = -1;
    if (ev.key === "j" || ev.key === "ArrowDown" && pinned) i = Math.min(cur + 1, EV.length - 1);
    else if (ev.key === "k" || ev.key === "ArrowUp" && pinned) i = Math.max(cur - 1, 0);
    else if (ev.key === "n") i = violRows.find((r) => r > cur) ?? -1;
    else if (ev.key === "p") i = [...violRows].reverse().find((r) => r < cur) ?? -1;
    else if (ev.key === "Escape") { pinned = false; panel.classList.remove("pinned"); return; }
    if (i < 0) return;
    ev.preventDefault();
    pin(i, true);
    reveal(i);
  });
  function fromHash() {
    const m = /^#ev-(\d+)$/.exec(location.hash);
    if (m && Number(m[1]) < EV.length) pin(Number(m[1]), true);
  }
  window.addEventListener("hashchange", fromHash);
  fromHash();

  const ready = document.createElement("div");
  ready.id = "ready";
  ready.hidden = true;
  document.body.appendChild(ready);
})();
"#;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::ViolationKind;
    use crate::trace::DropCause;

    fn send(dir: Dir, index: u64, frame: FrameInfo, fate: Fate) -> EventKind {
        let (conn, bytes) = (1, 40);
        EventKind::Send {
            conn,
            dir,
            index,
            frame,
            bytes,
            fate,
        }
    }

    fn deliver(dir: Dir, index: u64, copy: u32) -> EventKind {
        let (conn, reordered) = (1, false);
        EventKind::Deliver {
            conn,
            dir,
            index,
            copy,
            reordered,
        }
    }

    fn link(cut: bool) -> EventKind {
        let (from, to, both) = ("front".to_owned(), "<b>".to_owned(), true);
        match cut {
            true => EventKind::LinkCut { from, to, both },
            false => EventKind::LinkHeal { from, to, both },
        }
    }

    /// Two nodes, `front` and `<b>` (a name that must come out escaped): a connection, a call
    /// sent twice by the network, a reply dropped, a partition, a crash and a restart, and a
    /// call end (event 15) for a violation to point at.
    fn small_trace() -> Trace {
        let call = FrameInfo::Call {
            seq: 1,
            target: "calc".into(),
            method: "add".into(),
        };
        let hello = send(
            Dir::Down,
            0,
            FrameInfo::Hello,
            Fate::Deliver { delay_us: 900 },
        );
        let twice = Fate::Duplicate {
            delays_us: vec![500, 9000],
        };
        let call_twice = send(Dir::Up, 0, call.clone(), twice);
        let reply_lost = send(
            Dir::Down,
            1,
            FrameInfo::Reply { seq: 1 },
            Fate::Drop(DropCause::Fault),
        );
        let call_cut = send(Dir::Up, 1, call, Fate::Drop(DropCause::Cut));
        let (op, expected) = (
            "add(a=2, b=3)".into(),
            Expected::Exactly(Outcome::Ok("5".into())),
        );
        let start = EventKind::CallStart {
            id: 1,
            op,
            expected,
        };
        let message = "<i>x</i>".to_owned();
        let end = EventKind::CallEnd {
            id: 1,
            outcome: Outcome::Domain { code: 1, message },
        };
        let boot = |generation| EventKind::NodeStart {
            generation,
            apps: Vec::new(),
        };
        let (scenario, server) = ("s".to_owned(), "<b>".to_owned());
        let events = [
            (0, SIM, EventKind::RunStart { scenario, seed: 7 }),
            (0, "<b>", boot(0)),
            (1, "front", EventKind::ConnOpen { conn: 1, server }),
            (1, "<b>", hello),
            (901, "front", deliver(Dir::Down, 0, 0)),
            (1000, "front", start),
            (1000, "front", call_twice),
            (1500, "<b>", deliver(Dir::Up, 0, 0)),
            (1500, "<b>", reply_lost),
            (2000, SIM, link(true)),
            (2500, "front", call_cut),
            (3000, SIM, link(false)),
            (10_000, "<b>", deliver(Dir::Up, 0, 1)),
            (400_000, "<b>", EventKind::NodeCrash),
            (500_000, "<b>", boot(1)),
            (600_000, "front", end),
            (600_000, SIM, EventKind::RunEnd),
        ];
        let mut trace = Trace::new();
        for (t_us, node, kind) in events {
            trace.push(t_us, node, kind);
        }
        trace
    }

    fn violation() -> Violation {
        Violation {
            kind: ViolationKind::Correlation,
            event: 15,
            message: "call 1 got <script>alert(1)</script> & more".into(),
        }
    }

    fn count(page: &str, needle: &str) -> usize {
        page.matches(needle).count()
    }

    #[test]
    fn a_lifeline_per_node_in_first_appearance_order() {
        let page = render(&small_trace(), &[], "t");
        assert_eq!(count(&page, "class=\"lifeline\""), 2);
        let b = page.find("class=\"lifeline\" data-node=\"&lt;b&gt;\"");
        let front = page.find("class=\"lifeline\" data-node=\"front\"");
        assert!(b.is_some_and(|b| front.is_some_and(|front| b < front)));
        assert_eq!(count(&page, "data-node=\"sim\""), 0);
    }

    #[test]
    fn an_arrow_per_delivered_copy_and_a_mark_per_drop() {
        let page = render(&small_trace(), &[], "t");
        // The hello, the call's first copy and its duplicate.
        assert_eq!(count(&page, "class=\"arrow "), 3);
        assert_eq!(count(&page, "class=\"arrow k-call dup"), 1);
        assert_eq!(count(&page, "class=\"arrow k-hello"), 1);
        // The dropped reply and the call sent into the cut.
        assert_eq!(count(&page, "<g class=\"drop\""), 2);
        assert_eq!(count(&page, "<g class=\"lost\""), 0);
    }

    #[test]
    fn partitions_crashes_and_restarts_are_marked() {
        let page = render(&small_trace(), &[], "t");
        assert_eq!(count(&page, "<rect class=\"cut both\""), 1);
        assert!(page.contains("&lt;b&gt; ⇹ front cut"));
        assert_eq!(count(&page, "<path class=\"crash\""), 1);
        assert_eq!(count(&page, "<rect class=\"down\""), 1);
        assert_eq!(count(&page, "<path class=\"restart\""), 1);
        assert!(page.contains("▶ 1 add(a=2, b=3)"));
        // The idle stretch before the crash.
        assert!(page.contains("390.0 ms idle"));
    }

    #[test]
    fn the_violation_is_highlighted_with_its_message_and_linked_from_the_top() {
        let page = render(&small_trace(), &[violation()], "t");
        assert_eq!(count(&page, "<rect class=\"viol\""), 1);
        assert_eq!(count(&page, "id=\"ev-15\""), 1);
        assert!(page.contains("href=\"#ev-15\""));
        let message = "call 1 got &lt;script&gt;alert(1)&lt;/script&gt; &amp; more";
        assert!(page.contains(&format!("<strong>correlation</strong>: {message}")));
        let clean = render(&small_trace(), &[], "t");
        assert_eq!(count(&clean, "class=\"viol\""), 0);
        assert!(clean.contains("No violations"));
    }

    #[test]
    fn a_violation_on_a_frame_makes_its_arrow_red() {
        let mut violation = violation();
        violation.event = 12;
        let page = render(&small_trace(), &[violation], "t");
        assert_eq!(count(&page, "class=\"arrow k-call dup hot\""), 1);
    }

    #[test]
    fn every_string_from_the_trace_is_escaped() {
        let page = render(&small_trace(), &[violation()], "<title> & \"x\"");
        assert!(
            !page.contains("<b>"),
            "a node name reached the page unescaped"
        );
        assert!(!page.contains("<i>x</i>"));
        assert!(!page.contains("<script>alert"));
        assert!(!page.contains("<title> &"));
        assert!(page.contains("&lt;title&gt; &amp; &quot;x&quot;"));
        // Inside the script's data: no `<` at all, so no `</script>`.
        let data_at = page.find("id=\"trace-data\">").unwrap_or(0);
        let data = &page[data_at..];
        let data = &data[..data.find("</script>").unwrap_or(data.len())];
        assert!(data.contains("\\u003cb\\u003e"));
        assert!(!data["id=\"trace-data\">".len()..].contains('<'));
    }

    #[test]
    fn the_page_is_self_contained() {
        let page = render(&small_trace(), &[violation()], "t");
        for outside in ["http://", "https://", "src=", "@import", "url(http"] {
            let allowed = outside == "http://" && page.matches(outside).count() == 1;
            assert!(
                !page.contains(outside) || allowed,
                "the page refers to something outside: {outside}"
            );
        }
        // The one http:// is the SVG namespace.
        assert!(page.contains("xmlns=\"http://www.w3.org/2000/svg\""));
    }

    #[test]
    fn an_empty_trace_still_renders() {
        let page = render(&Trace::new(), &[], "empty");
        assert!(page.contains("\"ev\":[]"));
        assert!(page.ends_with("</html>\n"));
    }

    #[test]
    fn a_violation_outside_the_trace_is_listed_not_drawn() {
        let mut violation = violation();
        violation.event = 999;
        let page = render(&small_trace(), &[violation], "t");
        assert!(page.contains("at event 999 (not in the trace)"));
        assert_eq!(count(&page, "class=\"viol\""), 0);
    }

    #[test]
    fn the_page_grows_linearly_with_the_events() {
        let small = small_trace();
        let mut big = Trace::new();
        for round in 0..100u64 {
            for event in &small.events {
                big.push(
                    event.t_us + round * 1_000_000,
                    &event.node,
                    event.kind.clone(),
                );
            }
        }
        let (one, hundred) = (render(&small, &[], "t").len(), render(&big, &[], "t").len());
        assert!(
            hundred < one * 100,
            "{hundred} bytes for 100x the events of {one}"
        );
    }

    #[test]
    fn clip_and_json_string() {
        assert_eq!(clip("abcdef", 4), "abc…");
        assert_eq!(clip("abcd", 4), "abcd");
        assert_eq!(clip("äöü", 2), "ä…");
        let mut out = String::new();
        json_string(&mut out, "a\"b\\c\n</script>\u{1}");
        assert_eq!(out, r#""a\"b\\c\n\u003c/script\u003e\u0001""#);
    }
}
