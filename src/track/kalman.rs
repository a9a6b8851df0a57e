//! Constant-velocity Kalman filter for one box, as in ByteTrack / DeepSORT, but driven by time.
//!
//! The state is `[cx, cy, a, h, vx, vy, va, vh]`: box centre, aspect ratio `w / h`, height, and
//! their rates of change **per second**. The camera's detect rate may be anywhere from 2 to 30
//! frames per second and may vary from frame to frame, so a per-frame model (ByteTrack's) would
//! make velocities and noise depend on the frame rate; here the prediction uses the elapsed time
//! and the process noise grows linearly with it (a random walk), calibrated so that at
//! [`REFERENCE_FPS`] the filter behaves exactly like ByteTrack's.
//!
//! Noise standard deviations are proportional to the box height, as in ByteTrack: a near (tall)
//! object moves more pixels and its detection box jitters more than a far one.

use nalgebra::{SMatrix, SVector};

use crate::detect::types::BBox;

/// The filter state `[cx, cy, a, h, vx, vy, va, vh]`, velocities per second.
pub type StateVector = SVector<f32, 8>;
/// Covariance of [`StateVector`].
pub type Covariance = SMatrix<f32, 8, 8>;
/// A measurement `[cx, cy, a, h]`.
pub type Measurement = SVector<f32, 4>;

/// Position noise relative to the box height (ByteTrack's `_std_weight_position`).
pub const STD_WEIGHT_POSITION: f32 = 1.0 / 20.0;
/// Velocity noise relative to the box height, per reference frame (ByteTrack's
/// `_std_weight_velocity`).
pub const STD_WEIGHT_VELOCITY: f32 = 1.0 / 160.0;
/// The frame rate ByteTrack's per-frame weights were tuned at; used to turn them into
/// per-second quantities.
pub const REFERENCE_FPS: f32 = 30.0;

/// Aspect-ratio noise (ByteTrack uses fixed values: the aspect of a box barely depends on size).
const STD_ASPECT_MEASUREMENT: f32 = 1e-1;
const STD_ASPECT_PROCESS: f32 = 1e-2;
const STD_ASPECT_VELOCITY: f32 = 1e-5;

/// Noise is scaled by the height; a box that shrank to nothing must still have some noise, or
/// the innovation covariance becomes singular.
const MIN_NOISE_HEIGHT: f32 = 1.0;

/// Converts a box into a measurement; `None` for boxes with non-finite coordinates or without
/// area, which the filter cannot represent (the aspect ratio would be undefined).
pub fn measurement_from_bbox(b: &BBox) -> Option<Measurement> {
    let finite = b.x1.is_finite() && b.y1.is_finite() && b.x2.is_finite() && b.y2.is_finite();
    if !finite || b.x2 <= b.x1 || b.y2 <= b.y1 {
        return None;
    }
    let w = b.x2 - b.x1;
    let h = b.y2 - b.y1;
    Some(Measurement::new((b.x1 + b.x2) * 0.5, (b.y1 + b.y2) * 0.5, w / h, h))
}

/// Converts `[cx, cy, a, h, ..]` back into a box; a negative aspect or height (possible after a
/// long prediction with a shrinking velocity) gives an empty box rather than an inverted one.
pub fn bbox_from_state(cx: f32, cy: f32, a: f32, h: f32) -> BBox {
    let h = h.max(0.0);
    let w = a.max(0.0) * h;
    BBox::new(cx - w * 0.5, cy - h * 0.5, cx + w * 0.5, cy + h * 0.5)
}

/// Mean and covariance of one track's filter.
///
/// With this model (F couples each coordinate only with its own velocity; Q, R and the initial
/// covariance are diagonal) the covariance is always block-diagonal: four independent 2x2
/// blocks `(i, i+4)` for `i` in `cx, cy, a, h`. [`KalmanState::predict`] and
/// [`KalmanState::update`] exploit that and touch only those 12 entries, which gives exactly
/// the dense result (the other entries stay exact zeros either way) at a small fraction of the
/// cost: with hundreds of tracks per frame the dense 8x8 products dominated the update time.
/// The dense textbook formulas are kept in the tests as the reference this is checked against.
/// The fields are private so nothing can break the block structure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct KalmanState {
    mean: StateVector,
    covariance: Covariance,
}

impl KalmanState {
    /// Starts a filter at a first measurement, with zero velocity and a large velocity
    /// uncertainty (ByteTrack's initial standard deviations, converted to per second).
    pub fn initiate(z: &Measurement) -> Self {
        let h = noise_height(z[3]);
        let pos = 2.0 * STD_WEIGHT_POSITION * h;
        let vel = 10.0 * STD_WEIGHT_VELOCITY * h * REFERENCE_FPS;
        let std = StateVector::from([pos, pos, 1e-2, pos, vel, vel, 1e-5 * REFERENCE_FPS, vel]);
        let mut mean = StateVector::zeros();
        mean.fixed_rows_mut::<4>(0).copy_from(z);
        Self { mean, covariance: Covariance::from_diagonal(&std.component_mul(&std)) }
    }

    /// Sets the height velocity to zero: ByteTrack does this for lost tracks, so a box that
    /// keeps being predicted without measurements drifts with its motion but does not grow or
    /// shrink without bound.
    pub fn freeze_height(&mut self) {
        self.mean[7] = 0.0;
    }

    /// Diagonal of the process noise Q for `dt` seconds. Variance of a random walk grows
    /// linearly with time: `dt * REFERENCE_FPS` reference frames' worth of ByteTrack's noise.
    fn process_noise(&self, dt: f32) -> StateVector {
        let h = noise_height(self.mean[3]);
        let k = dt * REFERENCE_FPS;
        let pos = STD_WEIGHT_POSITION * h;
        let vel = STD_WEIGHT_VELOCITY * h * REFERENCE_FPS;
        let std =
            StateVector::from([pos, pos, STD_ASPECT_PROCESS, pos, vel, vel, STD_ASPECT_VELOCITY * REFERENCE_FPS, vel]);
        std.component_mul(&std) * k
    }

    /// Diagonal of the measurement noise R, scaled by the current (predicted) height.
    fn measurement_noise(&self) -> Measurement {
        let pos = STD_WEIGHT_POSITION * noise_height(self.mean[3]);
        Measurement::new(pos * pos, pos * pos, STD_ASPECT_MEASUREMENT.powi(2), pos * pos)
    }

    /// Moves the state `dt` seconds ahead. Non-positive or NaN `dt` does nothing, so a clock
    /// that stalls or goes backwards never shrinks the uncertainty.
    pub fn predict(&mut self, dt: f32) {
        if !dt.is_finite() || dt <= 0.0 {
            return;
        }
        let q = self.process_noise(dt);
        let (m, p) = (&mut self.mean, &mut self.covariance);
        for i in 0..4 {
            let v = i + 4;
            m[i] += dt * m[v];
            // F P Fᵀ + Q on the 2x2 block [[1, dt], [0, 1]].
            let (p00, p01, p11) = (p[(i, i)], p[(i, v)], p[(v, v)]);
            p[(i, i)] = p00 + dt * (2.0 * p01 + dt * p11) + q[i];
            let c = p01 + dt * p11;
            p[(i, v)] = c;
            p[(v, i)] = c;
            p[(v, v)] = p11 + q[v];
        }
    }

    /// Corrects the state with a measurement. Returns `false`, leaving the state unchanged, if
    /// the update is numerically impossible (non-positive innovation variance or a non-finite
    /// result); the caller then re-initiates at the measurement.
    pub fn update(&mut self, z: &Measurement) -> bool {
        let r = self.measurement_noise();
        // New (mean_i, mean_v, p00, p01, p11) per block, written only if all are finite.
        let mut blocks = [[0.0_f32; 5]; 4];
        for (i, out) in blocks.iter_mut().enumerate() {
            let v = i + 4;
            let p = &self.covariance;
            let (p00, p01, p11) = (p[(i, i)], p[(i, v)], p[(v, v)]);
            let s = p00 + r[i];
            if s.is_nan() || s <= 0.0 {
                return false;
            }
            // Gain K = [p00, p01] / s; covariance P - K s Kᵀ.
            let (k0, k1) = (p00 / s, p01 / s);
            let y = z[i] - self.mean[i];
            *out = [self.mean[i] + k0 * y, self.mean[v] + k1 * y, p00 - k0 * p00, p01 - k0 * p01, p11 - k1 * p01];
        }
        if blocks.iter().flatten().any(|x| !x.is_finite()) {
            return false;
        }
        for (i, [mi, mv, p00, p01, p11]) in blocks.into_iter().enumerate() {
            let v = i + 4;
            self.mean[i] = mi;
            self.mean[v] = mv;
            let p = &mut self.covariance;
            p[(i, i)] = p00;
            p[(i, v)] = p01;
            p[(v, i)] = p01;
            p[(v, v)] = p11;
        }
        true
    }

    /// The box of the current mean.
    pub fn bbox(&self) -> BBox {
        bbox_from_state(self.mean[0], self.mean[1], self.mean[2], self.mean[3])
    }

    /// The box its mean predicts `dt` seconds ahead (its height held with `frozen_height`, as
    /// a lost track's is), the state left as it is.
    pub fn bbox_ahead(&self, dt: f32, frozen_height: bool) -> BBox {
        let dt = if dt.is_finite() { dt.max(0.0) } else { 0.0 };
        let m = &self.mean;
        let dh = if frozen_height { 0.0 } else { m[7] };
        bbox_from_state(m[0] + dt * m[4], m[1] + dt * m[5], m[2] + dt * m[6], m[3] + dt * dh)
    }

    /// Velocity of the box centre in pixels per second.
    pub fn velocity(&self) -> (f32, f32) {
        (self.mean[4], self.mean[5])
    }
}

/// The dense textbook formulas, the reference the block-wise filter is tested against.
#[cfg(test)]
impl KalmanState {
    /// The state projected into measurement space: the predicted box and its covariance
    /// including measurement noise.
    pub fn project(&self) -> (Measurement, SMatrix<f32, 4, 4>) {
        let mean = self.mean.fixed_rows::<4>(0).into_owned();
        let cov = self.covariance.fixed_view::<4, 4>(0, 0) + SMatrix::from_diagonal(&self.measurement_noise());
        (mean, cov)
    }

    /// Dense reference of [`KalmanState::predict`]: `x = F x`, `P = F P Fᵀ + Q`.
    pub fn predict_dense(&mut self, dt: f32) {
        if !dt.is_finite() || dt <= 0.0 {
            return;
        }
        let q = Covariance::from_diagonal(&self.process_noise(dt));
        let mut f = Covariance::identity();
        for i in 0..4 {
            f[(i, i + 4)] = dt;
        }
        self.mean = f * self.mean;
        self.covariance = f * self.covariance * f.transpose() + q;
    }

    /// Dense reference of [`KalmanState::update`], with a Cholesky solve for the gain.
    pub fn update_dense(&mut self, z: &Measurement) -> bool {
        let (projected, s) = self.project();
        let Some(chol) = s.cholesky() else {
            return false;
        };
        // P Hᵀ is the first four columns of P; the gain K = P Hᵀ S⁻¹, so Kᵀ = S⁻¹ (P Hᵀ)ᵀ.
        let pht: SMatrix<f32, 8, 4> = self.covariance.fixed_columns::<4>(0).into_owned();
        let kt: SMatrix<f32, 4, 8> = chol.solve(&pht.transpose());
        let gain = kt.transpose();
        let mean = self.mean + gain * (z - projected);
        let cov = self.covariance - gain * s * kt;
        // Rounding in f32 slowly breaks symmetry; keep it exact.
        let cov = (cov + cov.transpose()) * 0.5;
        if mean.iter().chain(cov.iter()).any(|v| !v.is_finite()) {
            return false;
        }
        self.mean = mean;
        self.covariance = cov;
        true
    }
}

fn noise_height(h: f32) -> f32 {
    if h.is_finite() { h.abs().max(MIN_NOISE_HEIGHT) } else { MIN_NOISE_HEIGHT }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(cx: f32, cy: f32, w: f32, h: f32) -> BBox {
        BBox::new(cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0)
    }

    #[test]
    fn the_box_ahead_is_the_predicted_one_and_the_state_stays() {
        let mut k = KalmanState::initiate(&measurement_from_bbox(&BBox::new(100.0, 100.0, 140.0, 200.0)).expect("box"));
        k.mean[4] = 30.0;
        k.mean[5] = -12.0;
        k.mean[7] = 6.0;
        let before = k;
        let ahead = k.bbox_ahead(0.5, false);
        assert_eq!(k.mean, before.mean);
        k.predict(0.5);
        let b = k.bbox();
        assert!([ahead.x1 - b.x1, ahead.y1 - b.y1, ahead.x2 - b.x2, ahead.y2 - b.y2].iter().all(|d| d.abs() < 1e-3));
        assert_eq!(before.bbox_ahead(0.5, true).height(), before.bbox().height(), "a lost box keeps its height");
    }

    #[test]
    fn measurement_roundtrip_and_invalid_boxes() {
        let b = BBox::new(10.0, 20.0, 50.0, 120.0);
        let z = measurement_from_bbox(&b).expect("valid box");
        assert_eq!(z, Measurement::new(30.0, 70.0, 0.4, 100.0));
        let back = bbox_from_state(z[0], z[1], z[2], z[3]);
        assert!((back.x1 - b.x1).abs() < 1e-4 && (back.y2 - b.y2).abs() < 1e-4);

        assert!(measurement_from_bbox(&BBox::new(0.0, 0.0, 0.0, 10.0)).is_none());
        assert!(measurement_from_bbox(&BBox::new(0.0, 10.0, 10.0, 5.0)).is_none());
        assert!(measurement_from_bbox(&BBox::new(f32::NAN, 0.0, 10.0, 10.0)).is_none());
        assert!(measurement_from_bbox(&BBox::new(0.0, 0.0, f32::INFINITY, 10.0)).is_none());
    }

    #[test]
    fn constant_velocity_converges_at_10_fps() {
        let (vx, vy) = (80.0_f32, -30.0_f32);
        let z0 = measurement_from_bbox(&boxed(100.0, 300.0, 40.0, 100.0)).unwrap();
        let mut kf = KalmanState::initiate(&z0);
        let dt = 0.1;
        for i in 1..=40 {
            let t = i as f32 * dt;
            kf.predict(dt);
            let b = boxed(100.0 + vx * t, 300.0 + vy * t, 40.0, 100.0);
            assert!(kf.update(&measurement_from_bbox(&b).unwrap()));
        }
        let (ex, ey) = kf.velocity();
        assert!((ex - vx).abs() < 2.0, "vx {ex} vs {vx}");
        assert!((ey - vy).abs() < 2.0, "vy {ey} vs {vy}");
        assert!(kf.mean[6].abs() < 1e-2 && kf.mean[7].abs() < 1.0);
        // The prediction one frame ahead lands on the true next box.
        kf.predict(dt);
        let next = kf.bbox();
        let truth = boxed(100.0 + vx * 4.1, 300.0 + vy * 4.1, 40.0, 100.0);
        assert!(next.iou(&truth) > 0.95, "{next:?} vs {truth:?}");
    }

    #[test]
    fn velocity_is_per_second_whatever_the_frame_interval() {
        // Irregular intervals between 1/30 s and 1/2 s; the estimate must not depend on them.
        let intervals = [0.5_f32, 0.033, 0.2, 0.1, 0.4, 0.05, 0.25, 0.033, 0.5, 0.1];
        let vx = 50.0_f32;
        let z0 = measurement_from_bbox(&boxed(0.0, 0.0, 50.0, 120.0)).unwrap();
        let mut kf = KalmanState::initiate(&z0);
        let mut t = 0.0_f32;
        for i in 0..60 {
            let dt = intervals[i % intervals.len()];
            t += dt;
            kf.predict(dt);
            let z = measurement_from_bbox(&boxed(vx * t, 0.0, 50.0, 120.0)).unwrap();
            assert!(kf.update(&z));
        }
        let (ex, ey) = kf.velocity();
        assert!((ex - vx).abs() < 1.5, "vx {ex}");
        assert!(ey.abs() < 1.0, "vy {ey}");
    }

    #[test]
    fn predict_grows_uncertainty_with_time_and_ignores_bad_dt() {
        let z = measurement_from_bbox(&boxed(0.0, 0.0, 50.0, 100.0)).unwrap();
        let start = KalmanState::initiate(&z);
        let mut short = start;
        short.predict(0.1);
        let mut long = start;
        long.predict(1.0);
        assert!(long.covariance[(0, 0)] > short.covariance[(0, 0)]);
        assert!(short.covariance[(0, 0)] > start.covariance[(0, 0)]);

        for dt in [0.0, -1.0, f32::NAN, f32::INFINITY] {
            let mut k = start;
            k.predict(dt);
            assert_eq!(k, start, "dt {dt}");
        }
    }

    #[test]
    fn covariance_stays_symmetric_and_positive() {
        let z = measurement_from_bbox(&boxed(500.0, 400.0, 30.0, 60.0)).unwrap();
        let mut kf = KalmanState::initiate(&z);
        for i in 0..500 {
            kf.predict(0.07);
            let jitter = if i % 2 == 0 { 1.5 } else { -1.5 };
            let z = measurement_from_bbox(&boxed(500.0 + jitter, 400.0, 30.0, 60.0)).unwrap();
            assert!(kf.update(&z));
        }
        let p = kf.covariance;
        assert_eq!(p, p.transpose());
        assert!(p.cholesky().is_some());
    }

    #[test]
    fn structured_filter_equals_the_dense_formulas() {
        let z0 = measurement_from_bbox(&boxed(300.0, 200.0, 45.0, 110.0)).unwrap();
        let mut fast = KalmanState::initiate(&z0);
        let mut dense = fast;
        let mut seed = 12345_u64;
        let mut rnd = move || {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((seed >> 40) as f32) / ((1u64 << 24) as f32) - 0.5
        };
        for i in 0..200 {
            let dt = 0.033 + (rnd() + 0.5) * 0.467;
            fast.predict(dt);
            dense.predict_dense(dt);
            if i % 17 == 5 {
                // A lost stretch: prediction only, height velocity frozen.
                fast.freeze_height();
                dense.freeze_height();
                continue;
            }
            let t = i as f32 * 0.1;
            let b = boxed(
                300.0 + 40.0 * t + 4.0 * rnd(),
                200.0 - 10.0 * t + 4.0 * rnd(),
                45.0 + 3.0 * rnd(),
                110.0 + 5.0 * rnd(),
            );
            let z = measurement_from_bbox(&b).unwrap();
            assert!(fast.update(&z));
            assert!(dense.update_dense(&z));
            let close = |a: f32, b: f32| (a - b).abs() <= 1e-3 * (1.0 + a.abs().max(b.abs()));
            for (a, b) in fast.mean.iter().zip(dense.mean.iter()) {
                assert!(close(*a, *b), "step {i}: mean {a} vs {b}");
            }
            for (a, b) in fast.covariance.iter().zip(dense.covariance.iter()) {
                assert!(close(*a, *b), "step {i}: covariance {a} vs {b}");
            }
            // Keep both on the same trajectory so rounding differences do not accumulate.
            dense = fast;
        }
        // The block structure holds: nothing outside the (i, i+4) blocks.
        let p = fast.covariance;
        for r in 0..8 {
            for c in 0..8 {
                if r % 4 != c % 4 {
                    assert_eq!(p[(r, c)], 0.0);
                }
            }
        }
    }
}
