//! Rules: what the station acts on, computed from tracks. Geometry lives in [`geometry`], each
//! rule in a file of its own.

pub mod crowd;
pub mod geometry;
pub mod homography;
pub mod line_cross;
pub mod loitering;
pub mod speed;
pub mod stopped_vehicle;
