//! Tests of the agent client (`agent`): its frames, reads and refusals.

use super::*;

#[test]
fn only_a_static_executable_passes() {
    let this_test = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(
        !is_statically_linked(&this_test),
        "test binaries use the dynamic loader"
    );
    assert!(!is_statically_linked(b"#!/bin/sh\n"));
    assert!(!is_statically_linked(&[]));
}

#[tokio::test]
async fn a_files_megabyte_waits_whole_in_the_kernel_before_the_agent_reads() {
    let (server, mut agent) = UnixStream::pair().unwrap();
    let (read, write) = server.into_split();
    let megabyte = vec![7u8; 1 << 20];
    let writing = tokio::spawn(async move {
        write_unbounded(Connection { read, write }, "/home/sandbox/f", &megabyte).await
    });
    // The agent reads nothing yet: what the server could send is queued.
    let frames = (1 << 20) + 2 * 5;
    let room = protocol::room_made_for(frames);
    let queued = || rustix::io::ioctl_fionread(&agent).unwrap() as usize;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while queued() < room && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(queued() >= room, "queued {} of {room}", queued());
    let mut sent = vec![0u8; frames];
    agent.read_exact(&mut sent).await.unwrap();
    assert_eq!(&sent[5..10], &[7; 5]);
    agent.write_all(&json_frame(&Reply::Done)).await.unwrap();
    writing.await.unwrap().unwrap();
}

/// Whatever answers behind the socket (an impostor, say) cannot make
/// the server hold more of a file than was asked for: the first frame
/// past `max_bytes` ends the read.
#[tokio::test]
async fn a_read_refuses_more_than_was_asked_for() {
    let (server, mut impostor) = UnixStream::pair().unwrap();
    let (read, write) = server.into_split();
    let reading = tokio::spawn(async move {
        read_unbounded(Connection { read, write }, "/home/sandbox/f", 1000).await
    });
    impostor
        .write_all(&json_frame(&Reply::Size { size: 10 }))
        .await
        .unwrap();
    let flood = tokio::spawn(async move {
        let mut chunk = protocol::header(Kind::Data, 1 << 20).to_vec();
        chunk.resize(5 + (1 << 20), b'x');
        for _ in 0..64 {
            if impostor.write_all(&chunk).await.is_err() {
                break;
            }
        }
    });
    let answer = tokio::time::timeout(Duration::from_secs(5), reading)
        .await
        .expect("refused at the first frame, not after the flood")
        .unwrap();
    assert!(
        matches!(&answer, Err(RuntimeError::Failed(e)) if e.contains("more of the file than was asked for")),
        "{answer:?}"
    );
    flood.abort();
}

#[test]
fn refusals_become_the_ports_errors() {
    assert_eq!(
        refused(Refusal::MissingParent, "/home/sandbox/a/b", String::new()),
        RuntimeError::FileNotFound("/home/sandbox/a (pass create_dirs to create it)".into())
    );
    assert_eq!(
        refused(Refusal::WorkingDirMissing, "/nope", String::new()),
        RuntimeError::FileNotFound("working_dir /nope".into())
    );
    assert_eq!(
        refused(Refusal::PermissionDenied, "/etc/shadow", String::new()),
        RuntimeError::PermissionDenied("/etc/shadow".into())
    );
}
