import { App } from 'aws-cdk-lib'
import { defineApp } from './stack.ts'

defineApp(new App())
