//! Queries through a copied index answer on the replica as on the primary, after a workload
//! through the writer (dynalite, kinesalite).

use crate::common;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use common::*;

use super::{PRIMARY, create_orders, dyno, order, text};

async fn query_status(db: &Client, table: &str, status: &str) -> Vec<String> {
    let mut ids: Vec<String> = db
        .query()
        .table_name(table)
        .index_name("byStatus")
        .key_condition_expression("#s = :s")
        .expression_attribute_names("#s", "status")
        .expression_attribute_values(":s", s(status))
        .into_paginator()
        .items()
        .send()
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|item| match item.unwrap().get("id") {
            Some(AttributeValue::S(id)) => id.clone(),
            other => panic!("an order without an id: {other:?}"),
        })
        .collect();
    ids.sort();
    ids
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_through_a_copied_index_answer_as_on_the_primary() {
    let (tables, kinesis) = (Server::dynalite(), Server::kinesalite());
    let db = client(&tables).await;
    create_orders(&db, PRIMARY, &["byStatus"]).await;
    let create = ["--replica-table", "orders-dr", "create", "--shards", "1"];
    let out = dyno(&tables, Some(&kinesis), &create);
    assert!(out.status.success(), "{}", text(&out));

    // A workload through the writer: 60 puts, 20 updates of status, 10 deletes.
    let keys = stream(&kinesis, "dyno-keys").await;
    let w = dyno::publish::writer::Writer::connect(table(&tables, PRIMARY).await, keys)
        .await
        .unwrap();
    for i in 0..60 {
        let put = w.put().set_item(Some(order("t", i, "open")));
        w.put_item(put).await.unwrap();
    }
    let key = |i: usize| {
        HashMap::from([
            ("tenant".to_owned(), s("t")),
            ("id".to_owned(), s(&format!("o{i:04}"))),
        ])
    };
    for i in (0..40).step_by(2) {
        let update = w
            .update()
            .set_key(Some(key(i)))
            .update_expression("SET #s = :s")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s("shipped"));
        w.update_item(update).await.unwrap();
    }
    for i in 50..60 {
        w.delete_item(w.delete().set_key(Some(key(i))))
            .await
            .unwrap();
    }
    let replicate = ["--replica-table", "orders-dr", "replicate"];
    let out = dyno(&tables, Some(&kinesis), &replicate);
    assert!(out.status.success(), "{}", text(&out));

    for status in ["open", "shipped"] {
        let on_primary = query_status(&db, PRIMARY, status).await;
        let on_replica = query_status(&db, "orders-dr", status).await;
        assert_eq!(on_replica, on_primary, "{status}");
    }
    assert_eq!(query_status(&db, "orders-dr", "shipped").await.len(), 20);
    assert_eq!(query_status(&db, "orders-dr", "open").await.len(), 30);
}
