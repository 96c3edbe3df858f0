//! Targets: `create` and `check` keep only the indexes a target can fill.

use super::*;

/// The global secondary indexes of `name`, by DescribeTable (plain SDK): index → its key
/// schema and projection, e.g. `status HASH; INCLUDE [email]`; and the attribute definitions.
async fn described(client: &Client, name: &str) -> (BTreeMap<String, String>, Vec<String>) {
    let table = client
        .describe_table()
        .table_name(name)
        .send()
        .await
        .unwrap_or_else(|e| panic!("DescribeTable {name}: {e:?}"))
        .table
        .expect("a table");
    let indexes = table
        .global_secondary_indexes()
        .iter()
        .map(|index| {
            let keys: Vec<String> = index
                .key_schema()
                .iter()
                .map(|k| format!("{} {}", k.attribute_name(), k.key_type().as_str()))
                .collect();
            let projection = index.projection().expect("a projection");
            let mut shown = projection
                .projection_type()
                .map(|p| p.as_str().to_owned())
                .unwrap_or_default();
            if !projection.non_key_attributes().is_empty() {
                let mut others = projection.non_key_attributes().to_vec();
                others.sort();
                shown.push_str(&format!(" [{}]", others.join(", ")));
            }
            let name = index.index_name().expect("an index name").to_owned();
            (name, format!("{}; {shown}", keys.join(", ")))
        })
        .collect();
    let mut attributes: Vec<String> = table
        .attribute_definitions()
        .iter()
        .map(|a| format!("{} {}", a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    attributes.sort();
    (indexes, attributes)
}

/// True when `name` exists (DescribeTable, plain SDK).
pub(super) async fn exists(client: &Client, name: &str) -> bool {
    match client.describe_table().table_name(name).send().await {
        Ok(_) => true,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            false
        }
        Err(e) => panic!("DescribeTable {name}: {e:?}"),
    }
}

/// Creates `name` (pk S) with the plain SDK, with global indexes on `status` (S), each named
/// and projected as `indexes` says.
pub(super) async fn create_with_indexes(
    client: &Client,
    name: &str,
    indexes: &[(&str, Projection)],
) {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let hash = |name: &str| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(KeyType::Hash)
            .build()
            .unwrap()
    };
    let index = |(name, projection): &(&str, Projection)| {
        GlobalSecondaryIndex::builder()
            .index_name(*name)
            .key_schema(hash("status"))
            .projection(projection.clone())
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(name)
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("status"))
        .key_schema(hash("pk"))
        .set_global_secondary_indexes(Some(indexes.iter().map(index).collect()))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .expect("CreateTable with indexes");
}

pub(super) fn keys_only() -> Projection {
    Projection::builder()
        .projection_type(ProjectionType::KeysOnly)
        .build()
}

/// `byStatus` (ALL) and `byStatusEmail` (INCLUDE `email`).
fn orders_indexes() -> [(&'static str, Projection); 2] {
    let all = Projection::builder()
        .projection_type(ProjectionType::All)
        .build();
    let email = Projection::builder()
        .projection_type(ProjectionType::Include)
        .non_key_attributes("email")
        .build();
    [("byStatus", all), ("byStatusEmail", email)]
}

const T5_TARGETS: &str = r#"{"targets": [
    {"name": "full", "table": "t5-full"},
    {"name": "no-email", "table": "t5-no-email", "exclude": ["email"]},
    {"name": "slim", "table": "t5-slim", "include": ["n"]}
]}"#;

/// A fourth target, its table made by hand without indexes.
const T5_HAND: &str = r#"{"targets": [
    {"name": "full", "table": "t5-full"},
    {"name": "hand", "table": "t5-hand", "exclude": ["email"]}
]}"#;

/// `dyno create --targets` makes each target table from the primary's definition with only the
/// indexes whose every attribute the target keeps, and leaves existing ones as they are;
/// `dyno check --targets` finds them matching (text and `--json`), and finds the index missing
/// on a target made by hand.
#[test]
fn create_and_check_targets_keep_only_the_indexes_they_can_fill() {
    let cli = Cli::new("create");
    let (rt, primary, replica, dir) = (&cli.rt, &cli.primary, &cli.replica, &cli.dir);
    let table = "t5-orders";
    rt.block_on(create_with_indexes(primary, table, &orders_indexes()));
    let targets_file = &cli.file("targets.json", T5_TARGETS);
    let run = |args: &[&str]| cli.run(table, "t5-none", args);

    let create = ["create", "--no-stream", "--targets", targets_file];
    let out = run(&create);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let created = |table: &str, indexes: &str| {
        format!(
            "table `{table}` (pk (S, partition key)): created with global indexes: {indexes}; \
             local indexes: none; PAY_PER_REQUEST; deletion protection not known to this server"
        )
    };
    let said: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        said,
        [
            "target `full`:".to_owned(),
            created("t5-full", "byStatus, byStatusEmail"),
            "target `no-email`:".to_owned(),
            created("t5-no-email", "byStatus"),
            "target `slim`:".to_owned(),
            created("t5-slim", "none"),
        ],
        "{stderr}"
    );

    let all = "status HASH; ALL".to_owned();
    let with_email = "status HASH; INCLUDE [email]".to_owned();
    let (pk_status, pk_only) = (vec!["pk S", "status S"], vec!["pk S"]);
    let expected = [
        (
            "t5-full",
            BTreeMap::from([
                ("byStatus".to_owned(), all.clone()),
                ("byStatusEmail".to_owned(), with_email.clone()),
            ]),
            pk_status.clone(),
        ),
        (
            "t5-no-email",
            BTreeMap::from([("byStatus".to_owned(), all.clone())]),
            pk_status.clone(),
        ),
        ("t5-slim", BTreeMap::new(), pk_only.clone()),
    ];
    let describe_all = || {
        rt.block_on(async {
            let mut found = Vec::new();
            for (name, _, _) in &expected {
                found.push(described(replica, name).await);
            }
            found
        })
    };
    let made = describe_all();
    for ((name, indexes, attributes), (found, defined)) in expected.iter().zip(&made) {
        assert_eq!(found, indexes, "the indexes of {name}");
        assert_eq!(defined, attributes, "the attribute definitions of {name}");
    }
    // The primary is as it was.
    let (primary_indexes, _) = rt.block_on(described(primary, table));
    assert_eq!(
        primary_indexes,
        BTreeMap::from([
            ("byStatus".to_owned(), all.clone()),
            ("byStatusEmail".to_owned(), with_email.clone()),
        ])
    );

    // Again: every target exists and is left as it is.
    let out = run(&create);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(
        stderr.lines().collect::<Vec<_>>(),
        [
            "target `full`:",
            "table `t5-full` (pk (S, partition key)): exists, left as it is",
            "target `no-email`:",
            "table `t5-no-email` (pk (S, partition key)): exists, left as it is",
            "target `slim`:",
            "table `t5-slim` (pk (S, partition key)): exists, left as it is",
        ],
        "{stderr}"
    );
    assert_eq!(describe_all(), made);

    // `check --targets`: each target matches what it should be.
    let check = ["check", "--targets", targets_file];
    let out = run(&check);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    let matches = "check: the replica matches the primary's definition";
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "target `full`:",
            matches,
            "target `no-email`:",
            matches,
            "target `slim`:",
            matches
        ],
        "{stdout}"
    );
    assert_eq!(stderr, "");

    // `--json`: one object per target, nothing else.
    let out = run(&[&check[..], &["--json"]].concat());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}{}", text(&out.stderr));
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let object = |name: &str, target: &str| {
        json!({
            "target": name,
            "primary": "--table=t5-orders",
            "replica": format!("--targets={target}"),
            "matches": true,
            "applied": [],
            "differences": [],
            "summary": matches,
        })
    };
    assert_eq!(
        lines,
        [
            object("full", "t5-full"),
            object("no-email", "t5-no-email"),
            object("slim", "t5-slim")
        ],
        "{stdout}"
    );

    // A fourth target, made by hand without indexes: `--target hand` checks it alone, and
    // names the one index it should have (it keeps `status`, not `email`).
    rt.block_on(create_table(replica, "t5-hand", &schema()));
    let hand_file = dir.join("hand.json");
    std::fs::write(&hand_file, T5_HAND).unwrap();
    let hand = [
        "check",
        "--targets",
        hand_file.to_str().unwrap(),
        "--target",
        "hand",
    ];
    let out = run(&hand);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{stdout}{stderr}");
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "target `hand`:",
            "index byStatus: missing on the replica",
            "check: 1 difference (1 that `dyno check --apply` adds, 0 for a person to decide)",
        ],
        "{stdout}"
    );
    let out = run(&[&hand[..], &["--json"]].concat());
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let json: serde_json::Value = serde_json::from_str(stdout.trim()).expect("one JSON line");
    assert_eq!(json["replica"], "--targets=t5-hand");
    assert_eq!(json["target"], "hand");
    assert_eq!(json["matches"], false);
    let whats: Vec<&str> = json["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .map(|d| d["what"].as_str().expect("what"))
        .collect();
    assert_eq!(whats, ["index byStatus"], "{json}");
    // Both targets of the file: `full` matches, `hand` does not, and the run exits 1.
    let out = run(&hand[..3]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}{}", text(&out.stderr));
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("target `")).count(),
        2
    );
    assert!(stdout.starts_with(&format!("target `full`:\n{matches}\n")));
}
