//! Rules: what the station acts on, computed from tracks. Geometry lives in [`geometry`], each
//! rule in a file of its own; [`motion`] keeps the per-track speeds the moving-object rules
//! share, and [`episode`] the start/end timing they share.

pub mod collision;
pub mod counts;
pub mod crowd;
pub mod episode;
pub mod feasibility;
pub mod geometry;
pub mod homography;
pub mod line_cross;
pub mod loitering;
pub mod motion;
pub mod racing;
pub mod speed;
pub mod speeding;
pub mod stopped_vehicle;
pub mod wrong_way;
