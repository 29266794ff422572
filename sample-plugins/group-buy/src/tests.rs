use super::*;
use plaza_sdk::http::Method;
use plaza_sdk::testing;

fn run(member: &str, name: &str, args: &[&str]) -> Result<(), HandlerError> {
    testing::deliver::<GroupBuy>(testing::command("shop", member, name, args))
}

fn install(config: &[(&str, &str)]) {
    testing::deliver::<GroupBuy>(testing::installed(config)).unwrap();
}

fn created(order_id: &str) -> Result<Response, HostError> {
    Ok(Response {
        status: 201,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: format!(r#"{{"order_id":"{order_id}","status":"created"}}"#).into_bytes(),
    })
}

fn status(code: u16, body: &str) -> Result<Response, HostError> {
    Ok(Response {
        status: code,
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    })
}

fn requests() -> Vec<Request> {
    testing::with_host(|h| h.http_requests.clone())
}

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn pool(id: u64) -> Pool {
    serde_json::from_str(&testing::kv_get_string(&pool_key(id)).unwrap()).unwrap()
}

/// Opens "green tea" at 4.20 for 3 members and has ann and bob join.
fn two_of_three() {
    install(&[("merchant_url", "http://api.merchant.example:8080/")]);
    run("ada", "groupbuy", &["green", "tea", "4.20", "3"]).unwrap();
    run("ann", "join", &["1"]).unwrap();
    run("bob", "join", &[]).unwrap();
    testing::clear_sent();
}

#[test]
fn describes_its_commands() {
    let info = GroupBuy::info();
    let names: Vec<_> = info.commands.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["groupbuy", "join"]);
}

#[test]
fn the_join_that_reaches_the_minimum_places_one_order_and_confirms_it() {
    install(&[("merchant_url", "http://api.merchant.example:8080/")]);
    run("ada", "groupbuy", &["green", "tea", "4.20", "3"]).unwrap();
    assert_eq!(
        testing::last_sent_text().unwrap(),
        "🛒 Group buy #1: green tea at 4.20 each. The order is placed once 3 members have joined: /join 1"
    );
    run("ann", "join", &["1"]).unwrap();
    assert_eq!(
        testing::last_sent_text().unwrap(),
        "You joined group buy #1 (1/3); 2 more needed."
    );
    run("bob", "join", &["#1"]).unwrap();
    run("bob", "join", &["1"]).unwrap();
    assert_eq!(
        testing::last_sent_text().unwrap(),
        "You are already in group buy #1 (2/3)."
    );
    assert!(requests().is_empty(), "no order before the minimum");

    testing::push_http_response(created("ord-7"));
    testing::clear_sent();
    run("cy", "join", &[]).unwrap();

    let reqs = requests();
    assert_eq!(reqs.len(), 1);
    let order = &reqs[0];
    assert_eq!(order.method, Method::Post);
    assert_eq!(order.url, "http://api.merchant.example:8080/orders");
    assert_eq!(header(order, "authorization"), Some("Bearer {{secret:merchant_key}}"));
    assert_eq!(header(order, "content-type"), Some("application/json"));
    let key = pool(1).idempotency_key();
    assert!(
        key.starts_with("groupbuy-") && key.len() == "groupbuy-".len() + 32,
        "{key}"
    );
    assert_eq!(header(order, "idempotency-key"), Some(key.as_str()));
    let body: serde_json::Value = serde_json::from_slice(order.body.as_deref().unwrap()).unwrap();
    assert_eq!(
        body,
        serde_json::json!({
            "item": "green tea",
            "unit_price": "4.20",
            "quantity": 3,
            "participants": ["ann", "bob", "cy"],
            "reference": key,
        })
    );

    let sent = testing::sent();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0].channel, "shop");
    assert_eq!(
        sent[0].text,
        "✅ Group buy #1 is complete: ordered 3 × green tea at 4.20 (total 12.60). Merchant order: ord-7."
    );
    assert_eq!(
        pool(1).state,
        PoolState::Ordered {
            order_id: Some("ord-7".into())
        }
    );
    assert_eq!(testing::kv_get_string(KEY_OPEN).as_deref(), Some("[]"));

    // The pool is closed: later joins place nothing.
    run("dee", "join", &["1"]).unwrap();
    assert!(testing::last_sent_text()
        .unwrap()
        .starts_with("Group buy #1 is closed."));
    assert_eq!(requests().len(), 1);
}

#[test]
fn a_transient_failure_fails_retryably_and_the_redelivery_sends_the_same_key() {
    two_of_three();
    let event = Event {
        meta: testing::meta(),
        kind: testing::command("shop", "cy", "join", &["1"]),
    };

    // The simulated host rolls a failed invocation back entirely, the fetch's queued answer and
    // its record included, so each attempt's request is seen through the plugin's log.
    let attempt = |answer: Result<Response, HostError>, n: u32| {
        testing::push_http_response(answer);
        let mut event = event.clone();
        event.meta.attempt = n;
        let result = testing::deliver_event::<GroupBuy>(event);
        testing::with_host(|h| h.http_responses.clear());
        result
    };
    let err = attempt(status(500, "oops"), 1).unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert_eq!(err.code, "merchant-unavailable");
    // Everything the attempt did is rolled back: cy is not in the pool, nothing was posted.
    assert_eq!(pool(1).participants, ["ann", "bob"]);
    assert!(pool(1).is_open());
    assert!(testing::sent().is_empty());

    for (n, failure) in [
        Err(HostError::Unavailable("timed out after 2000 ms".into())),
        Err(HostError::RateLimited(1000)),
        status(503, ""),
        status(429, ""),
    ]
    .into_iter()
    .enumerate()
    {
        let err = attempt(failure, n as u32 + 2).unwrap_err();
        assert!(err.retryable, "{err:?}");
        assert!(pool(1).is_open());
    }

    // The merchant created the order on one of those attempts: it answers with the same order.
    attempt(created("ord-1"), 6).unwrap();
    let order = &requests()[0];
    let key = pool(1).idempotency_key();
    assert_eq!(header(order, "idempotency-key"), Some(key.as_str()));
    let logged: Vec<String> = testing::logs_at(plaza_sdk::logging::Level::Info)
        .into_iter()
        .filter(|l| l.contains("Idempotency-Key"))
        .collect();
    assert_eq!(logged.len(), 6, "{logged:?}");
    assert!(
        logged.iter().all(|l| l.ends_with(&format!("(Idempotency-Key {key})"))),
        "{logged:?}"
    );
    assert_eq!(testing::sent_texts().len(), 1);
    assert!(testing::sent_texts()[0].contains("ord-1"));
    assert_eq!(pool(1).participants, ["ann", "bob", "cy"]);
}

#[test]
fn a_refusal_marks_the_pool_failed_and_says_why() {
    two_of_three();
    testing::push_http_response(status(401, r#"{"error":"invalid api key"}"#));
    run("cy", "join", &["1"]).unwrap();
    let text = testing::last_sent_text().unwrap();
    assert_eq!(
        text,
        "❌ Group buy #1 reached 3 members, but the order could not be placed: the merchant answered 401 \
         (invalid api key)."
    );
    assert!(matches!(pool(1).state, PoolState::Failed { .. }));
    run("dee", "join", &["1"]).unwrap();
    assert!(testing::last_sent_text()
        .unwrap()
        .contains("failed: the merchant answered 401"));
    assert_eq!(requests().len(), 1);
}

#[test]
fn host_refusals_are_explained_without_failing() {
    for (error, expected) in [
        (HostError::Denied("http:fetch".into()), "not allowed (http:fetch)"),
        (
            HostError::Denied("http:fetch: api.merchant.example resolves to 10.0.0.7".into()),
            "resolves to 10.0.0.7",
        ),
        (
            HostError::Invalid("unknown secret \"merchant_key\"".into()),
            "merchant_key",
        ),
        (
            HostError::QuotaExceeded("response body over 4 MiB".into()),
            "limit was exceeded",
        ),
        (HostError::NotFound, "could not be found"),
    ] {
        testing::reset();
        two_of_three();
        testing::push_http_response(Err(error.clone()));
        run("cy", "join", &["1"]).unwrap_or_else(|e| panic!("{error:?}: {e}"));
        let text = testing::last_sent_text().unwrap();
        assert!(text.starts_with("❌ Group buy #1") && text.contains(expected), "{text}");
        assert!(matches!(pool(1).state, PoolState::Failed { .. }));
    }
}

#[test]
fn without_http_fetch_the_order_is_refused_cleanly() {
    two_of_three();
    testing::deny("http:fetch");
    run("cy", "join", &["1"]).unwrap();
    assert!(testing::last_sent_text().unwrap().contains("http:fetch"));
    assert!(requests().is_empty());
}

#[test]
fn defaults_config_channel_and_unknown_answers() {
    // No install event seen: the default merchant URL, confirmations in the pool's channel.
    run("ada", "groupbuy", &["mug", "8", "1"]).unwrap();
    testing::push_http_response(Ok(Response {
        status: 200,
        headers: Vec::new(),
        body: b"{\"id\": 42}".to_vec(),
    }));
    run("ann", "join", &[]).unwrap();
    assert_eq!(requests()[0].url, "https://api.merchant.example/orders");
    assert!(testing::last_sent_text().unwrap().ends_with("Merchant order: 42."));

    testing::deliver::<GroupBuy>(testing::config_changed(&[("channel", "orders")])).unwrap();
    run("ada", "groupbuy", &["pen", "1.5", "1"]).unwrap();
    testing::push_http_response(status(201, "not json"));
    run("ann", "join", &["2"]).unwrap();
    let last = testing::sent().pop().unwrap();
    assert_eq!(last.channel, "orders");
    assert!(
        last.text.ends_with("Merchant order: (no number given)."),
        "{}",
        last.text
    );

    run("ann", "join", &["9"]).unwrap();
    assert_eq!(testing::last_sent_text().unwrap(), "There is no group buy #9.");
    run("ann", "join", &[]).unwrap();
    assert_eq!(testing::last_sent_text().unwrap(), "No group buy is open.");
    run("ann", "groupbuy", &[]).unwrap();
    assert!(testing::last_sent_text().unwrap().starts_with("Usage: /groupbuy"));
    run("ann", "groupbuy", &["tea", "free", "2"]).unwrap();
    assert!(testing::last_sent_text().unwrap().contains("not a price"));
}

#[test]
fn status_lists_open_pools_and_join_asks_which() {
    run("ada", "groupbuy", &["tea", "4", "5"]).unwrap();
    run("ada", "groupbuy", &["coffee", "9.99", "2"]).unwrap();
    run("bob", "join", &["2"]).unwrap();
    run("bob", "groupbuy", &["status"]).unwrap();
    assert_eq!(
        testing::last_sent_text().unwrap(),
        "Open group buys:\n#1 tea at 4.00 each: 0/5 joined, open (/join 1)\n\
         #2 coffee at 9.99 each: 1/2 joined, open (/join 2)"
    );
    run("bob", "groupbuy", &["status", "2"]).unwrap();
    assert_eq!(
        testing::last_sent_text().unwrap(),
        "#2 coffee at 9.99 each: 1/2 joined, open (/join 2)"
    );
    run("cy", "join", &[]).unwrap();
    assert!(testing::last_sent_text()
        .unwrap()
        .starts_with("Several group buys are open (#1, #2)"));
}

#[test]
fn pools_opened_by_different_events_have_different_keys() {
    run("ada", "groupbuy", &["tea", "4", "5"]).unwrap();
    run("ada", "groupbuy", &["tea", "4", "5"]).unwrap();
    assert_ne!(pool(1).idempotency_key(), pool(2).idempotency_key());
}

#[test]
fn denied_storage_gets_an_explanation() {
    testing::deny("storage:kv");
    run("ada", "groupbuy", &["tea", "4", "5"]).unwrap();
    assert_eq!(
        testing::last_sent_text().unwrap(),
        "Group buys are not available: this community has not granted me `storage:kv`."
    );
}
