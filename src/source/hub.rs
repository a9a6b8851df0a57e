//! The hand-off between camera sources and the shared detector.
//!
//! Each camera has one slot holding only its newest frame: a live camera that produces faster than
//! the detector consumes overwrites its slot (latest wins, memory bounded by one frame per camera),
//! while a file played as fast as possible waits for its slot to empty (nothing dropped). The
//! detector serves cameras in turn, starting after the one it served last, so every camera gets a
//! fair share whatever its frame rate.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

/// What a camera hands to the detector.
#[derive(Debug)]
pub enum Item<F> {
    Frame(F),
    /// The stream has ended; everything before it has been handed over.
    EndOfStream,
}

struct Slot<F> {
    frame: Option<F>,
    eos: bool,
}

struct Slots<F> {
    slots: Vec<Slot<F>>,
    next: usize,
    closed: bool,
}

pub struct Hub<F> {
    state: Mutex<Slots<F>>,
    /// Signalled when a slot is filled (the detector waits on it) or emptied (blocking producers).
    changed: Condvar,
}

/// What [`Hub::put`] did with the frame.
#[derive(Debug, PartialEq, Eq)]
pub enum PutOutcome<F> {
    Queued,
    /// Queued, and the older unprocessed frame it holds was taken out to make room. It is handed
    /// back (dropped outside the lock) so the camera can say which frame will have no detection:
    /// after a source restart that frame may be one of the previous run's.
    Replaced(F),
    /// The hub is closed (shutting down): the frame was discarded.
    Closed,
}

impl<F> Hub<F> {
    pub fn new(cameras: usize) -> Self {
        Self {
            state: Mutex::new(Slots {
                slots: (0..cameras).map(|_| Slot { frame: None, eos: false }).collect(),
                next: 0,
                closed: false,
            }),
            changed: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Slots<F>> {
        // A panic while holding this lock cannot leave the slots inconsistent (each update is one
        // assignment), so a poisoned lock is still safe to use.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Offer a frame from camera `cam`. With `wait`, block until the slot is free (files played
    /// as fast as possible); otherwise replace whatever is waiting there.
    pub fn put(&self, cam: usize, frame: F, wait: bool) -> PutOutcome<F> {
        let mut st = self.lock();
        if wait {
            while !st.closed && st.slots[cam].frame.is_some() {
                st = self.changed.wait(st).unwrap_or_else(|p| p.into_inner());
            }
        }
        if st.closed {
            return PutOutcome::Closed;
        }
        let slot = &mut st.slots[cam];
        slot.eos = false;
        let replaced = slot.frame.replace(frame);
        drop(st);
        self.changed.notify_all();
        match replaced {
            Some(old) => PutOutcome::Replaced(old),
            None => PutOutcome::Queued,
        }
    }

    /// Mark the end of camera `cam`'s stream, after any frame still waiting in its slot.
    pub fn end_of_stream(&self, cam: usize) {
        let mut st = self.lock();
        st.slots[cam].eos = true;
        drop(st);
        self.changed.notify_all();
    }

    /// The next item in fair turn, waiting up to `timeout`. `None` on timeout or once closed.
    pub fn next(&self, timeout: Duration) -> Option<(usize, Item<F>)> {
        let mut st = self.lock();
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if st.closed {
                return None;
            }
            let n = st.slots.len();
            for k in 0..n {
                let cam = (st.next + k) % n;
                let slot = &mut st.slots[cam];
                let item = if let Some(f) = slot.frame.take() {
                    Item::Frame(f)
                } else if std::mem::take(&mut slot.eos) {
                    Item::EndOfStream
                } else {
                    continue;
                };
                st.next = (cam + 1) % n;
                drop(st);
                self.changed.notify_all();
                return Some((cam, item));
            }
            let now = std::time::Instant::now();
            if now >= deadline {
                return None;
            }
            st = self.changed.wait_timeout(st, deadline - now).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Stop: wake everyone, refuse new frames, drop what waits.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        for s in &mut st.slots {
            s.frame = None;
        }
        drop(st);
        self.changed.notify_all();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const T: Duration = Duration::from_millis(200);

    #[test]
    fn latest_wins_without_wait() {
        let hub = Hub::new(1);
        assert_eq!(hub.put(0, 1, false), PutOutcome::Queued);
        assert_eq!(hub.put(0, 2, false), PutOutcome::Replaced(1));
        assert!(matches!(hub.next(T), Some((0, Item::Frame(2)))));
        assert!(hub.next(Duration::from_millis(10)).is_none());
    }

    #[test]
    fn serves_cameras_in_turn() {
        let hub = Hub::new(3);
        let mut order = Vec::new();
        for round in 0..3 {
            for cam in 0..3 {
                hub.put(cam, round, false);
            }
            for _ in 0..3 {
                if let Some((cam, Item::Frame(_))) = hub.next(T) {
                    order.push(cam);
                }
            }
        }
        assert_eq!(order, vec![0, 1, 2, 0, 1, 2, 0, 1, 2]);
        // A busy camera cannot starve a quiet one: camera 0 refills at once, camera 2 gets its turn.
        hub.put(0, 9, false);
        hub.put(2, 9, false);
        let (first, _) = hub.next(T).expect("item");
        hub.put(0, 10, false);
        let (second, _) = hub.next(T).expect("item");
        assert_eq!((first, second), (0, 2));
    }

    #[test]
    fn eos_comes_after_the_last_frame() {
        let hub = Hub::new(1);
        hub.put(0, 7, false);
        hub.end_of_stream(0);
        assert!(matches!(hub.next(T), Some((0, Item::Frame(7)))));
        assert!(matches!(hub.next(T), Some((0, Item::EndOfStream))));
        assert!(hub.next(Duration::from_millis(10)).is_none());
    }

    #[test]
    fn waiting_producer_loses_nothing() {
        let hub = Arc::new(Hub::new(1));
        let h = Arc::clone(&hub);
        let producer = std::thread::spawn(move || {
            for i in 0..100 {
                assert_eq!(h.put(0, i, true), PutOutcome::Queued);
            }
            h.end_of_stream(0);
        });
        let mut got = Vec::new();
        while let Some((_, item)) = hub.next(Duration::from_secs(5)) {
            match item {
                Item::Frame(f) => got.push(f),
                Item::EndOfStream => break,
            }
        }
        producer.join().expect("producer");
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn close_releases_blocked_producer() {
        let hub = Arc::new(Hub::new(1));
        hub.put(0, 1, false);
        let h = Arc::clone(&hub);
        let producer = std::thread::spawn(move || h.put(0, 2, true));
        std::thread::sleep(Duration::from_millis(50));
        hub.close();
        assert_eq!(producer.join().expect("producer"), PutOutcome::Closed);
        assert!(hub.next(T).is_none());
    }
}
