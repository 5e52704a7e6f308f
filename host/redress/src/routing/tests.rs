#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;

/// The fixture table (also the example in the README): Zhejiang's market supervision.
const TABLE: &str = include_str!("../../../../tests/routing/zhejiang-msa.toml");

fn intake(yaml: &str) -> CaseIntake {
    crate::yaml::from_str(yaml, "case.yaml").unwrap()
}

#[test]
fn the_most_specific_rule_wins() {
    let table = RoutingTable::parse(TABLE, "zhejiang-msa.toml").unwrap();
    let base = "sector: market_supervision\nchannel: hotline\nreceived_at: 2026-02-13T10:00:00+08:00\n\
                complainant: {name: 张三, phone: '13800138000'}\nclaim: 退货\nfacts: 拒绝退货\n";
    // (respondent and extra intake fields, expected office, expected rule)
    let cases: &[(&str, &str, Matched)] = &[
        // County: Xihu district has its own office.
        (
            "respondent: {name: 某店, address: 西湖区, division_code: '330106'}",
            "330106-msa",
            Matched::Rule(4),
        ),
        // City: another Hangzhou district without a county rule goes to the city.
        (
            "respondent: {name: 某店, address: 上城区, division_code: '330102'}",
            "3301-msa",
            Matched::Rule(2),
        ),
        // Province: Ningbo has no rule of its own in this table.
        (
            "respondent: {name: 某店, address: 宁波, division_code: '330203'}",
            "33-msa",
            Matched::Rule(1),
        ),
        // Outside the province: the default (intake routes by hand).
        (
            "respondent: {name: 某店, address: 上海, division_code: '310101'}",
            "33-intake",
            Matched::Default,
        ),
        // No address at all: the default.
        ("respondent: {name: 某店}", "33-intake", Matched::Default),
        // A more specific rule by another field beats an equally long prefix.
        (
            "respondent: {name: 某店, address: 上城区, division_code: '330102'}\ncategory: food_safety",
            "3301-food",
            Matched::Rule(3),
        ),
        // A platform seller with a known place: where it operates (Xihu).
        (
            "respondent: {name: 某店, division_code: '330106', online: {role: platform_seller, platform_name: 某平台, platform_division_code: '330108'}}",
            "330106-msa",
            Matched::Rule(4),
        ),
        // ... or the platform's domicile (Binjiang) when the complaint was filed there.
        (
            "respondent: {name: 某店, division_code: '330106', online: {role: platform_seller, platform_name: 某平台, platform_division_code: '330108'}}\nattributes: {receiving_office_division: '330108'}",
            "330108-ecommerce",
            Matched::Rule(5),
        ),
        // A city office covering both places received it: where the seller operates.
        (
            "respondent: {name: 某店, division_code: '330106', online: {role: platform_seller, platform_name: 某平台, platform_division_code: '330108'}}\nattributes: {receiving_office_division: '3301'}",
            "330106-msa",
            Matched::Rule(4),
        ),
        // ... or when the seller's place is unknown.
        (
            "respondent: {name: 某店, online: {role: platform_seller, platform_name: 某平台, platform_division_code: '330108'}}",
            "330108-ecommerce",
            Matched::Rule(5),
        ),
    ];
    for (extra, office, matched) in cases {
        let query = RouteQuery::for_intake(&intake(&format!("{base}{extra}")));
        let resolution = table.resolve(&query).unwrap();
        assert_eq!(
            (resolution.office.id.as_str(), &resolution.matched),
            (*office, matched),
            "{extra}: {:?}",
            resolution.why
        );
    }
}

#[test]
fn escalation_goes_up_the_hierarchy() {
    let table = RoutingTable::parse(TABLE, "zhejiang-msa.toml").unwrap();
    let chain: Vec<&str> =
        std::iter::successors(table.office("330106-msa"), |o| table.parent_of(&o.id))
            .map(|o| o.id.as_str())
            .collect();
    assert_eq!(chain, ["330106-msa", "3301-msa", "33-msa"]);
}

#[test]
fn broken_tables_are_refused_with_the_place() {
    let office = |id: &str, division: &str, level: &str, parent: &str| {
        format!(
            "[[office]]\nid = \"{id}\"\nname = \"x\"\ndivision = \"{division}\"\nlevel = \"{level}\"\n{parent}\n"
        )
    };
    let province = office("p", "330000", "province", "");
    let cases = [
        (
            format!("{province}{}", office("p", "330000", "province", "")),
            "used twice",
        ),
        (office("c", "3301", "city", ""), "not a 6-digit"),
        (office("c", "330106", "city", ""), "ends in zeros"),
        (
            office("c", "330100", "city", "parent = \"nowhere\""),
            "parent `nowhere`",
        ),
        (
            format!(
                "{province}{}",
                office("c", "330100", "city", "parent = \"c\"")
            ),
            "loop",
        ),
        (
            format!(
                "{province}{}",
                office("q", "330000", "province", "parent = \"p\"")
            ),
            "higher level",
        ),
        (
            format!("{province}[[rule]]\noffice = \"x\"\n"),
            "[[rule]] #1",
        ),
        (
            format!("{province}[[rule]]\ndivision = \"331\"\noffice = \"p\"\n"),
            "2-, 4- or 6-digit",
        ),
        (
            format!("{province}[default]\noffice = \"x\"\n"),
            "[default]",
        ),
        (
            format!("{province}[[rule]]\noffice = \"p\"\nwhatever = 1\n"),
            "zhejiang.toml:9",
        ),
    ];
    for (text, message) in cases {
        let error = RoutingTable::parse(&text, "zhejiang.toml")
            .unwrap_err()
            .to_string();
        assert!(error.contains(message), "{message}: {error}");
    }
}
