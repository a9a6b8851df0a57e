//! Evidence kept on the box. For now: pictures with the detections drawn on them, for installers
//! checking a camera (`anttd detect --annotate`) and, later, event snapshots.

pub mod draw;
pub mod overlay;
