//! Test component: one echo function per WIT value kind, so the host's
//! dynamic JSON <-> WIT mapping is tested against a real component.

wit_bindgen::generate!({
    world: "kinds-world",
    path: "wit",
});

use exports::coop::test_kinds::kinds::{Color, Guest, Permissions, Profile, Shape};

struct Kinds;

impl Guest for Kinds {
    fn echo_bool(v: bool) -> bool {
        v
    }
    fn echo_u8(v: u8) -> u8 {
        v
    }
    fn echo_s8(v: i8) -> i8 {
        v
    }
    fn echo_u16(v: u16) -> u16 {
        v
    }
    fn echo_s16(v: i16) -> i16 {
        v
    }
    fn echo_u32(v: u32) -> u32 {
        v
    }
    fn echo_s32(v: i32) -> i32 {
        v
    }
    fn echo_u64(v: u64) -> u64 {
        v
    }
    fn echo_s64(v: i64) -> i64 {
        v
    }
    fn echo_f32(v: f32) -> f32 {
        v
    }
    fn echo_f64(v: f64) -> f64 {
        v
    }
    fn echo_char(v: char) -> char {
        v
    }
    fn echo_string(v: String) -> String {
        v
    }
    fn echo_list(v: Vec<u32>) -> Vec<u32> {
        v
    }
    fn echo_record(v: Profile) -> Profile {
        v
    }
    fn echo_tuple(v: (u8, String, f64)) -> (u8, String, f64) {
        v
    }
    fn echo_variant(v: Shape) -> Shape {
        v
    }
    fn echo_enum(v: Color) -> Color {
        v
    }
    fn echo_option(v: Option<u32>) -> Option<u32> {
        v
    }
    fn echo_nested_option(v: Option<Option<String>>) -> Option<Option<String>> {
        v
    }
    fn echo_result(v: Result<String, u32>) -> Result<String, u32> {
        v
    }
    fn echo_result_unit(v: Result<(), ()>) -> Result<(), ()> {
        v
    }
    fn echo_flags(v: Permissions) -> Permissions {
        v
    }

    fn describe(a: u32, b: String, c: Vec<bool>) -> String {
        describe_text(a, &b, &c)
    }

    fn fail(msg: String) -> Result<u32, String> {
        Err(msg)
    }
}

export!(Kinds);

fn describe_text(a: u32, b: &str, c: &[bool]) -> String {
    let c: Vec<String> = c.iter().map(bool::to_string).collect();
    format!("a={a} b={b} c=[{}]", c.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_lists_every_param() {
        assert_eq!(
            describe_text(7, "x", &[true, false]),
            "a=7 b=x c=[true,false]"
        );
        assert_eq!(describe_text(0, "", &[]), "a=0 b= c=[]");
    }
}
