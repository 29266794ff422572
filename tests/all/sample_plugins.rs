//! The sample plugins, packaged with their manifests, running in the real host.

use plaza_host::dispatch::ReviewDecision;
use plaza_host::Action;

use crate::common::*;

#[tokio::test]
async fn welcome_bot_greets_people_not_bots_with_the_configured_greeting() {
    let plaza = plaza();
    let bot = load_sample(&plaza, plaza_tests::WELCOME_BOT, "welcome-bot").await;
    install_with(
        &plaza,
        "c",
        &bot,
        "all",
        config(&[("channel", "lobby"), ("greeting", "Hello {name}!")]),
    )
    .await;
    let mut ev = Events::new("c");
    let r = plaza
        .dispatch(ev.parse(r#"{"type":"member-joined","member":{"id":"ann","display_name":"Ann"}}"#))
        .await;
    let r = r.unwrap();
    let greeting = only(&r.invocations, "welcome-bot");
    assert_eq!(sent(greeting), ["Hello Ann!"]);
    assert!(
        matches!(&greeting.actions[..], [.., Action::SendMessage { channel, .. }] if channel == "lobby")
            || greeting
                .actions
                .iter()
                .any(|a| matches!(a, Action::SendMessage { channel, .. } if channel == "lobby"))
    );
    let bot_join = ev.parse(r#"{"type":"member-joined","member":{"id":"b","display_name":"B","is_bot":true}}"#);
    let r = plaza.dispatch(bot_join).await.unwrap();
    assert!(
        sent(only(&r.invocations, "welcome-bot")).is_empty(),
        "bots are not greeted"
    );

    // An admin changes the greeting with a command; members:read lets the plugin check the role.
    plaza.dispatch(ev.joined_with_roles("boss", &["admin"])).await.unwrap();
    let r = plaza
        .dispatch(ev.message("m1", "boss", "/welcome set Welcome aboard, {name}"))
        .await
        .unwrap();
    assert!(only(&r.invocations, "welcome-bot").outcome.is_ok());
    let r = plaza
        .dispatch(ev.parse(r#"{"type":"member-joined","member":{"id":"cy","display_name":"Cy"}}"#))
        .await;
    assert_eq!(
        sent(only(&r.unwrap().invocations, "welcome-bot")),
        ["Welcome aboard, Cy"]
    );
    // A plain member may not.
    let r = plaza
        .dispatch(ev.message("m2", "cy", "/welcome set hacked"))
        .await
        .unwrap();
    assert!(!sent(only(&r.invocations, "welcome-bot"))
        .iter()
        .any(|t| t.contains("updated")));
}

#[tokio::test]
async fn anti_spam_rejects_link_floods_and_repeats_before_posting() {
    let plaza = plaza();
    let spam = load_sample(&plaza, plaza_tests::ANTI_SPAM, "anti-spam").await;
    community_with(&plaza, "c", &spam, "all").await;
    let mut ev = Events::new("c");
    plaza.dispatch(ev.joined("spammer")).await.unwrap();
    let flood = ev.message("m1", "spammer", "buy http://a.x http://b.x http://c.x http://d.x");
    let report = plaza.ingest(flood).await.unwrap();
    let decision = report.review.unwrap().decision;
    assert!(
        matches!(&decision, ReviewDecision::Reject { plugin, reason } if plugin == "anti-spam" && reason.contains("links"))
    );
    assert!(plaza.store().message("c", "m1").is_none());

    let first = plaza
        .ingest(ev.message("m2", "spammer", "Free coins here"))
        .await
        .unwrap();
    assert_eq!(first.review.unwrap().decision, ReviewDecision::Allow);
    let repeat = plaza
        .ingest(ev.message("m3", "spammer", "free COINS here!"))
        .await
        .unwrap();
    assert!(matches!(repeat.review.unwrap().decision, ReviewDecision::Reject { .. }));
    // Someone else saying the same thing is not a repeat.
    let other = plaza
        .ingest(ev.message("m4", "someone", "Free coins here"))
        .await
        .unwrap();
    assert_eq!(other.review.unwrap().decision, ReviewDecision::Allow);
}

#[tokio::test]
async fn poll_runs_votes_results_and_closes_on_its_timer() {
    let plaza = plaza();
    let poll = load_sample(&plaza, plaza_tests::POLL, "poll").await;
    community_with(&plaza, "c", &poll, "all").await;
    let mut ev = Events::new("c");
    let r = plaza
        .dispatch(ev.message("m1", "ann", r#"/poll --minutes 2 "Lunch?" pizza sushi"#))
        .await
        .unwrap();
    let created = sent(only(&r.invocations, "poll"));
    assert!(
        created[0].contains("Poll #1") && created[0].contains("pizza"),
        "{created:?}"
    );
    for (id, who, vote) in [
        ("m2", "ann", "pizza"),
        ("m3", "bob", "2"),
        ("m4", "cy", "sushi"),
        ("m5", "bob", "pizza"),
    ] {
        let r = plaza
            .dispatch(ev.message(id, who, &format!("/vote 1 {vote}")))
            .await
            .unwrap();
        assert!(only(&r.invocations, "poll").outcome.is_ok());
    }
    let r = plaza.dispatch(ev.message("m6", "ann", "/results 1")).await.unwrap();
    let results = sent(only(&r.invocations, "poll")).join("\n");
    assert!(
        results.contains("pizza: 2 votes") && results.contains("sushi: 1 vote"),
        "{results}"
    );
    let r = plaza.dispatch(ev.message("m7", "ann", "/vote 9 pizza")).await.unwrap();
    assert!(
        sent(only(&r.invocations, "poll"))[0].contains("#9"),
        "unknown poll is explained"
    );

    let start = 1_767_225_600_000;
    let fired = plaza.fire_due_timers(start + 10 * 60_000).await.unwrap();
    assert_eq!(fired.len(), 1);
    let closing = sent(&fired[0]).join("\n");
    assert!(
        closing.contains("closed") && closing.contains("Winner: pizza"),
        "{closing}"
    );
    let r = plaza.dispatch(ev.message("m8", "cy", "/vote 1 sushi")).await.unwrap();
    assert!(sent(only(&r.invocations, "poll"))[0].to_lowercase().contains("closed"));
}

#[tokio::test]
async fn poll_without_send_still_counts_votes() {
    let plaza = plaza();
    let poll = load_sample(&plaza, plaza_tests::POLL, "poll").await;
    community_with(&plaza, "c", &poll, "commands,storage:kv").await;
    let mut ev = Events::new("c");
    let r = plaza
        .dispatch(ev.message("m1", "ann", "/poll Lunch? pizza sushi"))
        .await
        .unwrap();
    let r = only(&r.invocations, "poll");
    assert!(r.outcome.is_ok(), "a denied send must not fail the handler: {r:?}");
    assert_eq!(r.denied[0].capability, "messages:send");
    let r = plaza.dispatch(ev.message("m2", "bob", "/vote 1 pizza")).await.unwrap();
    assert!(only(&r.invocations, "poll").outcome.is_ok());
    let tally_keys = plaza.store().kv_keys("c", "poll", "poll/1", None, 10);
    assert!(!tally_keys.is_empty());
}
