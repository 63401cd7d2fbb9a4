// Smoke test against a live server: TKA_BASE_URL=http://127.0.0.1:8000 npm test
import { test } from 'node:test';
import { strict as assert } from 'node:assert';
import { randomUUID } from 'node:crypto';

import { ResponseError, TKAClient, etagOf, isProblem } from '../src/index';

const baseUrl = process.env.TKA_BASE_URL;
const skip = baseUrl ? false : 'set TKA_BASE_URL to a running tka server';

async function problemOf(promise: Promise<unknown>): Promise<ResponseError> {
    const error = await promise.then(() => undefined, (e: unknown) => e);
    assert.ok(error instanceof ResponseError, `expected a ResponseError, got ${error}`);
    return error;
}

test('the SDK drives a live server end to end', { skip }, async () => {
    const tka = new TKAClient({ baseUrl });

    const status = await tka.status.getStatus();
    assert.equal(status.status, 'running');

    // Create with an Idempotency-Key, twice: the second answer replays the first.
    const key = randomUUID();
    const request = { name: 'TS smoke', startPosition: 'alpha1' as const };
    const first = await tka.sequences.createSequenceRaw({ createSequenceRequest: request, idempotencyKey: key });
    const second = await tka.sequences.createSequenceRaw({ createSequenceRequest: request, idempotencyKey: key });
    const created = await first.value();
    const replayed = await second.value();
    assert.equal(first.raw.status, 201);
    assert.equal(replayed.data!.id, created.data!.id);
    assert.equal(second.raw.headers.get('Idempotent-Replayed'), 'true');
    const id = created.data!.id;

    // Read it with its ETag.
    const read = await tka.sequences.getSequenceRaw({ sequenceId: id });
    const etag = etagOf(read);
    assert.equal(etag, `"${(await read.value()).data.version}"`);

    // A write with the current ETag succeeds; one with the now stale ETag is a typed 412.
    await tka.sequences.updateSequence({ sequenceId: id, ifMatch: etag, updateSequenceRequest: { name: 'TS smoke 2' } });
    const stale = await problemOf(tka.sequences.updateSequence({
        sequenceId: id, ifMatch: etag, updateSequenceRequest: { name: 'lost update' } }));
    assert.equal(stale.status, 412);
    assert.ok(isProblem(stale, 'precondition_failed'));
    assert.equal(stale.problem!.status, 412);
    assert.equal(stale.problem!.instance, `/api/sequences/${id}`);
    assert.ok(stale.problem!.requestId);

    // A beat by letter, then one by explicit motions (the letter is derived), then a blank one.
    const byLetter = await tka.beats.addBeat({ sequenceId: id, addBeatRequest: { beat: { letter: 'A' } } });
    assert.equal(byLetter.data!.beats.length, 1);
    assert.equal(byLetter.data!.endPosition, 'alpha3');
    const byMotions = await tka.beats.addBeat({
        sequenceId: id, idempotencyKey: randomUUID(),
        addBeatRequest: { beat: {
            blueMotion: { motionType: 'pro', startLoc: 'w', endLoc: 'n' },
            redMotion: { motionType: 'pro', startLoc: 'e', endLoc: 's' },
        } },
    });
    assert.equal(byMotions.data!.beats.length, 2);
    assert.equal(byMotions.data!.beats[1].letter, 'A');
    assert.equal(byMotions.data!.beats[1].blueMotion!.propRotDir, 'cw');
    assert.equal(byMotions.data!.beats[1].blueMotion!.prefloatMotionType, null);
    const blank = await tka.beats.addBeat({ sequenceId: id, addBeatRequest: { beat: { isBlank: true } } });
    const blankBeat = blank.data!.beats[2];
    assert.equal(blankBeat.letter, null);          // nullable fields arrive as null, not undefined
    assert.equal(blankBeat.blueMotion, null);
    assert.equal(blankBeat.startPosition, null);

    // Undo the blank beat, redo it.
    const undone = await tka.commands.undo({ undoRedoRequest: { sequenceId: id } });
    assert.equal(undone.data!.beats.length, 2);
    assert.equal(undone.canRedo, true);
    const redone = await tka.commands.redo({ undoRedoRequest: { sequenceId: id } });
    assert.equal(redone.data!.beats.length, 3);
    assert.equal(redone.data!.beats[2].letter, null);

    // Pictures: the sheet as SVG (with an ETag; If-None-Match with it is a 304, which the
    // generated client throws as a ResponseError), the sheet as PNG, one beat as SVG.
    const sheet = await tka.pictures.getSequenceImageSvgRaw({ sequenceId: id });
    const svg = await (await sheet.value()).text();
    assert.ok(svg.startsWith('<svg') && svg.includes('class="beat"'));
    const pictureEtag = etagOf(sheet);
    assert.ok(pictureEtag?.endsWith('-p1"'));
    const notModified = await problemOf(tka.pictures.getSequenceImageSvg({ sequenceId: id, ifNoneMatch: pictureEtag }));
    assert.equal(notModified.status, 304);
    const png = new Uint8Array(await (await tka.pictures.getSequenceImagePng({ sequenceId: id, size: 64 })).arrayBuffer());
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    const beat = await (await tka.pictures.getBeatImageSvg({ sequenceId: id, beatNumber: 1 })).text();
    assert.ok(beat.startsWith('<svg'));

    // Sending null: clear the start position of a sequence without beats.
    const bare = await tka.sequences.createSequence({ createSequenceRequest: { name: 'bare', startPosition: 'beta5' } });
    const cleared = await tka.sequences.updateSequence({
        sequenceId: bare.data!.id, updateSequenceRequest: { startPosition: null } });
    assert.equal(cleared.data!.startPosition, null);
    assert.equal(cleared.data!.startPositionBeat, null);

    // A 404 carries its problem body.
    const missing = await problemOf(tka.sequences.getSequence({ sequenceId: randomUUID() }));
    assert.equal(missing.status, 404);
    assert.equal(missing.problem!.errorCode, 'not_found');
    assert.equal(missing.problem!.title.length > 0, true);

    // Pagination.
    const page1 = await tka.sequences.listSequences({ page: 1, pageSize: 1 });
    assert.equal(page1.data.length, 1);
    assert.ok(page1.totalItems >= 2);
    assert.equal(page1.hasNext, true);
    const page2 = await tka.sequences.listSequences({ page: 2, pageSize: 1 });
    assert.equal(page2.hasPrevious, true);
    assert.notEqual(page2.data[0].id, page1.data[0].id);

    // Delete; then it is gone.
    const deleted = await tka.sequences.deleteSequence({ sequenceId: id });
    assert.equal(deleted.data!.id, id);
    assert.equal((await problemOf(tka.sequences.getSequence({ sequenceId: id }))).status, 404);
    await tka.sequences.deleteSequence({ sequenceId: bare.data!.id });
});

test('retries only safe requests on 429/503, honouring Retry-After', async () => {
    const calls: Array<{ method: string; key: string | null }> = [];
    let answers = [503, 429, 200];
    const fakeFetch = async (_url: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
        const headers = new Headers(init?.headers);
        calls.push({ method: init?.method ?? 'GET', key: headers.get('Idempotency-Key') });
        const status = answers.shift() ?? 200;
        if (status !== 200) {
            return new Response(JSON.stringify({ type: 'urn:tka:problem:too_many_requests', title: 'Busy', status,
                detail: 'busy', instance: '/api/status', error_code: 'too_many_requests', request_id: 'r' }),
                { status, headers: { 'Content-Type': 'application/problem+json', 'Retry-After': '0' } });
        }
        return new Response(JSON.stringify({ status: 'running', version: '0', api_enabled: true,
            uptime_seconds: 1, store: 'sqlite', timestamp: '2025-01-15T09:32:10Z' }),
            { status: 200, headers: { 'Content-Type': 'application/json' } });
    };
    const tka = new TKAClient({ baseUrl: 'http://tka.invalid', fetchApi: fakeFetch });
    assert.equal((await tka.status.getStatus()).status, 'running');
    assert.equal(calls.length, 3);                       // GET: retried twice

    calls.length = 0; answers = [503, 200];
    const unkeyed = await problemOf(tka.commands.undo({}));
    assert.equal(calls.length, 1);                       // POST without a key: never repeated
    assert.equal(unkeyed.status, 503);
    assert.equal(unkeyed.problem!.errorCode, 'too_many_requests');

    calls.length = 0; answers = [429, 503, 503, 503, 503];
    const keyed = await problemOf(tka.commands.undo({ idempotencyKey: 'k' }));
    assert.equal(calls.length, 4);                       // keyed POST: retried, up to maxRetries (3)
    assert.equal(keyed.status, 503);
});
