//! The start/end timing shared by the rules that watch a condition over time (`speeding`,
//! `racing`, `wrong_way`): the condition must hold for `for_s` to start, a dip shorter than
//! `end_after_s` neither restarts the clock nor ends an open event, it must be off for
//! `end_after_s` to end, and after an end nothing starts for `cooldown_s`.

use crate::event::Phase;

#[derive(Debug, Clone, Copy, PartialEq)]
enum EpisodeState {
    Idle { on_since: Option<f64>, off_since: Option<f64>, quiet_until: f64 },
    Active { off_since: Option<f64> },
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Episode {
    for_s: f64,
    end_after_s: f64,
    cooldown_s: f64,
    state: EpisodeState,
}

impl Episode {
    pub fn new(for_s: f64, end_after_s: f64, cooldown_s: f64) -> Self {
        Self {
            for_s,
            end_after_s,
            cooldown_s,
            state: EpisodeState::Idle { on_since: None, off_since: None, quiet_until: f64::NEG_INFINITY },
        }
    }

    pub fn is_active(&self) -> bool {
        matches!(self.state, EpisodeState::Active { .. })
    }

    /// Since when the condition has held (through short dips), while gathering.
    pub fn on_since(&self) -> Option<f64> {
        match self.state {
            EpisodeState::Idle { on_since, .. } => on_since,
            EpisodeState::Active { .. } => None,
        }
    }

    /// The condition at time `t`; a start or an end when due.
    pub fn update(&mut self, t: f64, on: bool) -> Option<Phase> {
        match &mut self.state {
            EpisodeState::Idle { on_since, off_since, quiet_until } => {
                if on {
                    *off_since = None;
                    let since = *on_since.get_or_insert(t);
                    if t - since >= self.for_s && t >= *quiet_until {
                        self.state = EpisodeState::Active { off_since: None };
                        return Some(Phase::Start);
                    }
                } else if on_since.is_some() {
                    let dip = *off_since.get_or_insert(t);
                    if t - dip >= self.end_after_s {
                        *on_since = None;
                        *off_since = None;
                    }
                }
                None
            }
            EpisodeState::Active { off_since } => {
                if on {
                    *off_since = None;
                    return None;
                }
                let since = *off_since.get_or_insert(t);
                if t - since >= self.end_after_s {
                    self.state =
                        EpisodeState::Idle { on_since: None, off_since: None, quiet_until: t + self.cooldown_s };
                    return Some(Phase::End);
                }
                None
            }
        }
    }

    /// Start now although the condition has not held for `for_s`, because it cannot any more
    /// (what it watched left the view while it held): `true` if it started. Only while
    /// gathering and out of the cooldown; the condition counts as off from `t` on.
    pub fn start_early(&mut self, t: f64) -> bool {
        match self.state {
            EpisodeState::Idle { on_since: Some(_), quiet_until, .. } if t >= quiet_until => {
                self.state = EpisodeState::Active { off_since: Some(t) };
                true
            }
            _ => false,
        }
    }

    /// End now (the track ended, the stream ended): `true` if an event was open.
    pub fn stop(&mut self, t: f64) -> bool {
        let (was, quiet_until) = match self.state {
            EpisodeState::Active { .. } => (true, t + self.cooldown_s),
            EpisodeState::Idle { quiet_until, .. } => (false, quiet_until),
        };
        self.state = EpisodeState::Idle { on_since: None, off_since: None, quiet_until };
        was
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(e: &mut Episode, on: impl Fn(f64) -> bool, until: f64) -> Vec<(f64, Phase)> {
        let mut out = Vec::new();
        let mut t = 0.0;
        while t <= until + 1e-9 {
            out.extend(e.update(t, on(t)).map(|p| (t, p)));
            t = ((t + 0.1) * 10.0_f64).round() / 10.0;
        }
        out
    }

    #[test]
    fn starts_after_for_s_ends_after_end_after_s() {
        let mut e = Episode::new(2.0, 1.0, 0.0);
        let got = run(&mut e, |t| (1.0..6.0).contains(&t), 10.0);
        assert_eq!(got, vec![(3.0, Phase::Start), (7.0, Phase::End)]);
    }

    #[test]
    fn short_dips_neither_restart_nor_end() {
        let mut e = Episode::new(2.0, 1.0, 0.0);
        // Off for 0.5 s every 1.5 s: starts 2 s after the first on, never ends until off for good.
        let got = run(&mut e, |t| t < 20.0 && (t % 1.5) < 1.0, 25.0);
        assert_eq!(got, vec![(2.0, Phase::Start), (21.0, Phase::End)]);
    }

    #[test]
    fn cooldown_holds_back_a_restart_and_stop_counts_as_an_end() {
        let mut e = Episode::new(0.0, 0.5, 5.0);
        let got = run(&mut e, |t| !(2.0..3.0).contains(&t), 10.0);
        // Off at 2 s, ended at 2.5 s; on again at 3 s but held back until 7.5 s.
        assert_eq!(got, vec![(0.0, Phase::Start), (2.5, Phase::End), (7.5, Phase::Start)]);
        assert!(e.stop(10.0));
        assert!(!e.stop(10.0), "nothing open any more");
        assert_eq!(e.update(12.0, true), None, "cooldown after a stop too");
        assert_eq!(e.update(15.0, true), Some(Phase::Start));
    }
}
