//! Traffic statistics: line crossings per line, label and direction, summed over fixed
//! intervals of stream time, for the periodic `<camera>/counts` message.
//!
//! Intervals are counted from the camera's first frame, in stream time (so a replay gives the
//! same intervals as the live run). Every interval is reported, empty ones too, so the station
//! can tell "nobody passed" from "the box was not counting". The interval still open when the
//! stream ends is reported as it stands (`to` is the last frame's time).

use std::collections::BTreeMap;

/// One closed interval's counts: (line index, class id, direction index) → crossings.
#[derive(Debug, Clone, PartialEq)]
pub struct Interval {
    /// Stream times the interval covers, [from, to).
    pub from: f64,
    pub to: f64,
    pub counts: BTreeMap<(usize, u32, usize), u64>,
}

#[derive(Debug, Clone)]
pub struct Counts {
    interval_s: f64,
    start: Option<f64>,
    last: f64,
    counts: BTreeMap<(usize, u32, usize), u64>,
}

impl Counts {
    pub fn new(interval_s: f64) -> Self {
        Self { interval_s, start: None, last: 0.0, counts: BTreeMap::new() }
    }

    /// A frame at time `t`: closes every interval that ended at or before it (appended to
    /// `out`), before the frame's crossings are added with [`Counts::add`].
    pub fn tick(&mut self, t: f64, out: &mut Vec<Interval>) {
        let start = *self.start.get_or_insert(t);
        let mut from = start;
        while t >= from + self.interval_s {
            let to = from + self.interval_s;
            out.push(Interval { from, to, counts: std::mem::take(&mut self.counts) });
            from = to;
        }
        self.start = Some(from);
        self.last = t;
    }

    pub fn add(&mut self, line: usize, class_id: u32, direction: usize) {
        *self.counts.entry((line, class_id, direction)).or_default() += 1;
    }

    /// The stream ended: the open interval, if a frame was seen.
    pub fn finish(&mut self) -> Option<Interval> {
        let from = self.start.take()?;
        Some(Interval { from, to: self.last.max(from), counts: std::mem::take(&mut self.counts) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_roll_over_in_stream_time_and_empty_ones_are_reported() {
        let mut c = Counts::new(10.0);
        let mut out = Vec::new();
        c.tick(100.0, &mut out);
        c.add(0, 0, 1);
        c.tick(105.0, &mut out);
        c.add(0, 0, 1);
        c.add(1, 2, 0);
        assert!(out.is_empty());
        // A gap of 25 s: the first interval with its three crossings, then an empty one.
        c.tick(125.0, &mut out);
        c.add(0, 0, 0);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!((out[0].from, out[0].to), (100.0, 110.0));
        let want: BTreeMap<_, _> = [((0, 0, 1), 2), ((1, 2, 0), 1)].into_iter().collect();
        assert_eq!(out[0].counts, want);
        assert_eq!((out[1].from, out[1].to), (110.0, 120.0));
        assert!(out[1].counts.is_empty());
        c.tick(127.0, &mut out);
        let last = c.finish().expect("open interval");
        assert_eq!((last.from, last.to), (120.0, 127.0));
        assert_eq!(last.counts.get(&(0, 0, 0)), Some(&1));
        assert_eq!(c.finish(), None, "finished");
    }
}
