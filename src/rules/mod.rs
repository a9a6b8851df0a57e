//! Rules: what the station acts on, computed from tracks. Geometry lives in [`crate::geometry`], each
//! rule in a file of its own; [`kinematics`] keeps the per-track speeds the moving-object rules
//! share, and [`episode`] the start/end timing they share.

pub mod collision;
pub mod counts;
pub mod crowd;
pub mod episode;
pub mod feasibility;
pub mod kinematics;
pub mod line_cross;
pub mod loitering;
pub mod racing;
pub mod speed;
pub mod speeding;
pub mod stopped_vehicle;
pub mod wrong_way;

/// Serde defaults that several rules' configs share.
mod defaults {
    use crate::schema::Seconds;

    pub fn two_s() -> Seconds {
        Seconds(2.0)
    }
    pub fn three_s() -> Seconds {
        Seconds(3.0)
    }
    pub fn five_s() -> Seconds {
        Seconds(5.0)
    }
    pub fn sixty_s() -> Seconds {
        Seconds(60.0)
    }
}
