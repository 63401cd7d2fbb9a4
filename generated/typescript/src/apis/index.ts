/* tslint:disable */
/* eslint-disable */
export * from './AlphabetApi';
export * from './BeatsApi';
export * from './CommandsApi';
export * from './EventsApi';
export * from './HealthApi';
export * from './PicturesApi';
export * from './SequencesApi';
export * from './StatusApi';
