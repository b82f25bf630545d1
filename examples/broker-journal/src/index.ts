export { JournalBroker, type JournalBrokerOptions } from "./journal-broker";
