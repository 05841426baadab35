//! Size and aspect-ratio arithmetic: `WxH` and `W:H` text, the nearest
//! ratio a provider offers, and rounding to a size multiple. Sizes are in
//! pixels.

/// `WxH` (also `W×H`, `W*H`, `W,H`; `X` in either case; surrounding quotes
/// and spaces ignored) as two positive numbers of pixels.
pub fn parse_size(text: &str) -> Option<(u32, u32)> {
    let text = text.trim().trim_matches('"');
    let (w, h) = text.split_once(['x', 'X', '×', '*', ','])?;
    let (w, h) = (w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

/// `W:H` as positive integers.
pub fn parse_ratio(ratio: &str) -> Option<(u32, u32)> {
    let (w, h) = ratio.split_once(':')?;
    let (w, h) = (w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

/// The ratio in `choices` (`W:H` strings) closest in log space to
/// `width / height`; `None` when no choice parses.
pub fn nearest_ratio<'a>(width: u32, height: u32, choices: &[&'a str]) -> Option<&'a str> {
    let target = (f64::from(width.max(1)) / f64::from(height.max(1))).ln();
    choices
        .iter()
        .filter_map(|c| parse_ratio(c).map(|(w, h)| (*c, ((f64::from(w) / f64::from(h)).ln() - target).abs())))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// Round down to a multiple of `m`, but never below `min`.
pub fn round_down(value: u32, m: u32, min: u32) -> u32 {
    ((value / m) * m).max(min)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_pick_the_nearest() {
        assert_eq!(nearest_ratio(1920, 1080, &["1:1", "16:9", "4:3"]), Some("16:9"));
        assert_eq!(nearest_ratio(1000, 1010, &["1:1", "16:9", "4:3"]), Some("1:1"));
        assert_eq!(nearest_ratio(650, 1000, &["9:16", "2:3", "1:1"]), Some("2:3"));
    }

    #[test]
    fn sizes_and_rounding() {
        assert_eq!(parse_size("768x512"), Some((768, 512)));
        assert_eq!(parse_size("768 × 512"), Some((768, 512)));
        assert_eq!(parse_size("\"768X512\""), Some((768, 512)));
        assert_eq!(parse_size("0x5"), None);
        assert_eq!(round_down(1023, 8, 64), 1016);
        assert_eq!(round_down(10, 8, 64), 64);
    }
}
