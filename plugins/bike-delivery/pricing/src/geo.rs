//! Distances on the Earth and the coop's named zones.
//!
//! Coordinates are the only floats in the crate: every distance leaves this
//! module as whole metres, so prices never depend on float rounding.

use serde::{Deserialize, Serialize};

/// Mean Earth radius (IUGG), metres. A sphere is within 0.5 % of the
/// ellipsoid, far below the error of a straight line against a street route.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A position in degrees (WGS 84).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Point {
    /// Latitude, degrees north, -90 to 90.
    pub lat: f64,
    /// Longitude, degrees east, -180 to 180.
    pub lon: f64,
}

impl Point {
    /// Whether both coordinates are finite and in range; the message names
    /// the bad field and its value.
    pub fn check(&self) -> Result<(), String> {
        coordinate("lat", self.lat, 90.0)?;
        coordinate("lon", self.lon, 180.0)
    }
}

fn coordinate(field: &str, value: f64, bound: f64) -> Result<(), String> {
    if !value.is_finite() {
        return Err(format!("{field} {value} is not a finite number of degrees"));
    }
    if !(-bound..=bound).contains(&value) {
        return Err(format!(
            "{field} {value} is outside -{bound} to {bound} degrees"
        ));
    }
    Ok(())
}

/// Great-circle distance between `a` and `b` in metres, rounded to the
/// nearest metre (haversine on a sphere of radius [`EARTH_RADIUS_M`]).
/// Points that fail [`Point::check`] give a meaningless figure.
pub fn great_circle_m(a: Point, b: Point) -> u32 {
    let (lat_a, lat_b) = (a.lat.to_radians(), b.lat.to_radians());
    let half_dlat = (lat_b - lat_a) / 2.0;
    let half_dlon = (b.lon - a.lon).to_radians() / 2.0;
    let h = half_dlat.sin().powi(2) + lat_a.cos() * lat_b.cos() * half_dlon.sin().powi(2);
    // Rounding can push h a hair above 1 near the antipodes.
    let central = 2.0 * h.clamp(0.0, 1.0).sqrt().asin();
    // At most half the circumference, about 20 015 km: fits a u32; NaN → 0.
    (EARTH_RADIUS_M * central).round() as u32
}

/// Route distance estimate: the great-circle distance times
/// `factor_percent / 100` (streets are not straight), in whole metres,
/// rounded half up, saturating at `u32::MAX`.
pub fn route_m(a: Point, b: Point, factor_percent: u32) -> u32 {
    let scaled = (u64::from(great_circle_m(a, b)) * u64::from(factor_percent) + 50) / 100;
    u32::try_from(scaled).unwrap_or(u32::MAX)
}

/// A named disc on the map, for rules that depend on where a delivery ends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Zone {
    /// Name used in rules (`when.zone`): 1 to 64 of a-z, 0-9 and '-'.
    pub id: String,
    /// Centre of the disc.
    pub center: Point,
    /// Radius, metres; a point exactly on the circle is inside.
    pub radius_m: u32,
}

impl Zone {
    /// Whether the id is a valid name and the centre a valid point.
    pub fn check(&self) -> Result<(), String> {
        if !crate::rules::is_name(&self.id) {
            return Err(format!(
                "zone {:?}: id must be 1 to 64 characters of a-z, 0-9 and '-'",
                self.id
            ));
        }
        self.center
            .check()
            .map_err(|e| format!("zone {:?}: center: {e}", self.id))
    }
}

/// Ids of the zones that contain `p` (great-circle distance to the centre
/// at most the radius), in the order of `zones`.
pub fn zones_of(p: Point, zones: &[Zone]) -> Vec<String> {
    zones
        .iter()
        .filter(|z| great_circle_m(p, z.center) <= z.radius_m)
        .map(|z| z.id.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BELLECOUR: Point = Point {
        lat: 45.7578,
        lon: 4.8320,
    };
    const PART_DIEU: Point = Point {
        lat: 45.7606,
        lon: 4.8597,
    };

    /// By hand, flat-earth approximation (good to centimetres over 2 km):
    /// one degree of arc is 6 371 008.8 × π / 180 = 111 195.08 m;
    /// north 0.0028° → 311.35 m; east 0.0277° × cos(45.7592°) = 0.0277 ×
    /// 0.697675 → 2148.93 m; √(311.35² + 2148.93²) = √4 714 700 ≈ 2171.3 m.
    #[test]
    fn bellecour_to_part_dieu_is_about_2171_m() {
        let d = great_circle_m(BELLECOUR, PART_DIEU);
        assert!(d.abs_diff(2171) <= 5, "got {d}");
        assert_eq!(d, great_circle_m(PART_DIEU, BELLECOUR));
    }

    #[test]
    fn same_point_is_zero() {
        assert_eq!(great_circle_m(BELLECOUR, BELLECOUR), 0);
    }

    /// Half the circumference: π × 6 371 008.8 = 20 015 114.44 m.
    #[test]
    fn antipodes_are_half_the_circumference() {
        let a = Point { lat: 0.0, lon: 0.0 };
        let b = Point {
            lat: 0.0,
            lon: 180.0,
        };
        assert!(great_circle_m(a, b).abs_diff(20_015_114) <= 5);
        let n = Point {
            lat: 90.0,
            lon: 0.0,
        };
        let s = Point {
            lat: -90.0,
            lon: 0.0,
        };
        assert!(great_circle_m(n, s).abs_diff(20_015_114) <= 5);
    }

    /// One degree along the equator or a meridian: 111 195.08 m.
    #[test]
    fn one_degree_is_111195_m() {
        let o = Point { lat: 0.0, lon: 0.0 };
        assert_eq!(great_circle_m(o, Point { lat: 1.0, lon: 0.0 }), 111_195);
        assert_eq!(great_circle_m(o, Point { lat: 0.0, lon: 1.0 }), 111_195);
    }

    /// 2171 m × 130 % = 2822.3 → 2822; × 135 % = 2930.85 → 2931 (half up:
    /// 2171 × 135 = 293 085, + 50 = 293 135, / 100 = 2931).
    #[test]
    fn route_scales_and_rounds_half_up() {
        let d = great_circle_m(BELLECOUR, PART_DIEU);
        assert_eq!(d, 2171);
        assert_eq!(route_m(BELLECOUR, PART_DIEU, 100), 2171);
        assert_eq!(route_m(BELLECOUR, PART_DIEU, 130), 2822);
        assert_eq!(route_m(BELLECOUR, PART_DIEU, 135), 2931);
        // 1 m × 150 % = 1.5 → 2 (half up).
        let a = Point { lat: 0.0, lon: 0.0 };
        let b = Point {
            lat: 0.0,
            lon: 0.000_009,
        };
        assert_eq!(great_circle_m(a, b), 1);
        assert_eq!(route_m(a, b, 150), 2);
        let far = Point {
            lat: 0.0,
            lon: 180.0,
        };
        assert_eq!(route_m(a, far, u32::MAX), u32::MAX);
    }

    #[test]
    fn check_names_the_bad_field() {
        assert_eq!(BELLECOUR.check(), Ok(()));
        assert_eq!(
            Point {
                lat: 91.0,
                lon: 0.0
            }
            .check(),
            Err("lat 91 is outside -90 to 90 degrees".to_string())
        );
        assert_eq!(
            Point {
                lat: 0.0,
                lon: -180.5
            }
            .check(),
            Err("lon -180.5 is outside -180 to 180 degrees".to_string())
        );
        assert_eq!(
            Point {
                lat: 0.0,
                lon: f64::NAN
            }
            .check(),
            Err("lon NaN is not a finite number of degrees".to_string())
        );
        assert_eq!(
            Point {
                lat: f64::INFINITY,
                lon: 0.0
            }
            .check(),
            Err("lat inf is not a finite number of degrees".to_string())
        );
    }

    #[test]
    fn zones_contain_points_within_their_radius_in_order() {
        let zones = vec![
            Zone {
                id: "part-dieu".into(),
                center: PART_DIEU,
                radius_m: 500,
            },
            Zone {
                id: "lyon".into(),
                center: BELLECOUR,
                radius_m: 5_000,
            },
            // Exactly on the circle counts as inside.
            Zone {
                id: "edge".into(),
                center: BELLECOUR,
                radius_m: 2171,
            },
            Zone {
                id: "short".into(),
                center: BELLECOUR,
                radius_m: 2170,
            },
        ];
        assert_eq!(zones_of(PART_DIEU, &zones), ["part-dieu", "lyon", "edge"]);
        assert_eq!(zones_of(BELLECOUR, &zones), ["lyon", "edge", "short"]);
        assert!(
            zones_of(
                Point {
                    lat: 48.85,
                    lon: 2.35
                },
                &zones
            )
            .is_empty()
        );
    }

    #[test]
    fn zone_json_is_kebab_case_and_checked() {
        let z: Zone = serde_json::from_str(
            r#"{"id":"presquile","center":{"lat":45.76,"lon":4.83},"radius-m":900}"#,
        )
        .unwrap();
        assert_eq!(z.radius_m, 900);
        assert_eq!(z.check(), Ok(()));
        let bad = Zone {
            id: "Presqu'île".into(),
            ..z.clone()
        };
        assert_eq!(
            bad.check(),
            Err("zone \"Presqu'île\": id must be 1 to 64 characters of a-z, 0-9 and '-'".into())
        );
        let off = Zone {
            center: Point {
                lat: 0.0,
                lon: 200.0,
            },
            ..z
        };
        assert_eq!(
            off.check(),
            Err("zone \"presquile\": center: lon 200 is outside -180 to 180 degrees".into())
        );
    }
}
