// Hand-written (sdk/overlay/typescript): one object holding every generated API, sharing one
// Configuration (base URL, token, retry policy).
import { Configuration, ConfigurationParameters, ResponseError } from './runtime';
import { AlphabetApi, BeatsApi, CommandsApi, HealthApi, PicturesApi, SequencesApi, StatusApi } from './apis/index';

export interface TKAClientOptions extends Omit<ConfigurationParameters, 'basePath' | 'accessToken'> {
    /** Server origin, e.g. `http://127.0.0.1:8000` (paths in the spec start with `/api`). */
    baseUrl?: string;
    /** Bearer token, needed only when the server was started with `--token`. */
    token?: string;
}

export class TKAClient {
    readonly configuration: Configuration;
    readonly status: StatusApi;
    readonly health: HealthApi;
    readonly sequences: SequencesApi;
    readonly beats: BeatsApi;
    readonly alphabet: AlphabetApi;
    readonly commands: CommandsApi;
    readonly pictures: PicturesApi;

    constructor(options: TKAClientOptions = {}) {
        const { baseUrl, token, ...rest } = options;
        this.configuration = new Configuration({
            ...rest,
            basePath: (baseUrl ?? 'http://127.0.0.1:8000').replace(/\/+$/, ''),
            accessToken: token,
        });
        this.status = new StatusApi(this.configuration);
        this.health = new HealthApi(this.configuration);
        this.sequences = new SequencesApi(this.configuration);
        this.beats = new BeatsApi(this.configuration);
        this.alphabet = new AlphabetApi(this.configuration);
        this.commands = new CommandsApi(this.configuration);
        this.pictures = new PicturesApi(this.configuration);
    }
}

/** The `ETag` of a response, as sent (`"3"`): pass it back as `ifMatch`. */
export function etagOf(response: { raw: Response }): string | undefined {
    return response.raw.headers.get('ETag') ?? undefined;
}

/** True when `e` is an error answer with this `error_code` (e.g. `precondition_failed`). */
export function isProblem(e: unknown, errorCode?: string): e is ResponseError {
    return e instanceof ResponseError && e.problem !== undefined
        && (errorCode === undefined || e.problem.errorCode === errorCode);
}
